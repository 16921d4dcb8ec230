/**
 * A storage node cannot learn plaintext (paper §III-B: storage nodes are
 * honest but curious; §IV-B2: only Enc(Ik, IoT) leaves the user). A user
 * uploads a sealed batch to a real storage node over libp2p through a
 * capturing TCP proxy, and the storage node also sees the public chain data
 * of that epoch (the tx_key and tx_IoT). Neither the captured wire bytes,
 * nor the storage node's files on disk, nor the chain data contain any key
 * material (the user's and the doctor's private key seeds, Ik, the epoch
 * secret, the doctor's dk) or the plaintext; the granted doctor still opens
 * the batch it fetches from the storage node.
 */
import t from 'tap'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import {
  buildTxIoT, buildTxKey, contentDigest, encodeTx, equalBytes, openAsDoctor, openBatch, sealBatch, utf8Bytes
} from '../../hub/src/core/index.ts'
import { uploadBatch } from '../../hub/src/ipfs/index.ts'
import { encodeBatch } from '../../hub/src/nodered/batcher.ts'
import { seed, who, TS } from '../helpers/core.ts'
import { addr, ipfsNode, storageNode, tempDir } from '../helpers/ipfs.ts'
import { TcpProxy } from '../helpers/tcp-proxy.ts'

function contains (hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.byteLength).indexOf(Buffer.from(needle)) >= 0
}

async function filesUnder (dir: string): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (const e of await readdir(dir, { recursive: true })) {
    const p = join(dir, e)
    if ((await stat(p)).isFile()) out.push(new Uint8Array(await readFile(p)))
  }
  return out
}

t.test('what a storage node sees, stores and relays holds no key material and no plaintext', async (t) => {
  const dir = await tempDir(t, 'privacy')
  const user = who('privacy-user')
  const doctor = who('privacy-doctor')
  const ik = seed('privacy-ik')
  const epochSecret = seed('privacy-epoch-secret')
  const txKey = buildTxKey(user, { ts: TS, epoch: 1, ik, epochSecret, doctors: [{ id: doctor.id, x25519: doctor.agreement.publicKey }], ikmE: seed('privacy-ikme') })
  const doctorKeys = openAsDoctor(txKey, doctor)!
  const marker = 'PLAINTEXT-MARKER-7f3a9c'
  const plaintext = encodeBatch([{ d: 'ox-1', b: 1, s: 1, t: 'spo2', v: 88, u: '%', ts: 5 }, { d: 'ox-1', b: 1, s: 2, t: 'hr', v: 131, u: '/min', ts: 6, note: marker } as never])
  const sealed = sealBatch(ik, seed('privacy-nonce').subarray(0, 12), user.id, 1, plaintext)
  const txIoT = buildTxIoT(user, { ts: TS + 1, heiot: contentDigest(sealed), epoch: 1 })

  const storage = await storageNode(t, join(dir, 'storage'))
  const wire: Buffer[] = []
  const port = Number(addr(storage).split('/')[4])
  const proxy = await TcpProxy.start(port, { onData: (_d, chunk) => { wire.push(chunk) } })
  t.teardown(() => proxy.close())
  const viaProxy = addr(storage).replace(`/tcp/${port}/`, `/tcp/${proxy.port}/`)
  const userNode = await ipfsNode(t, join(dir, 'user'))
  const { cid } = await uploadBatch(userNode, sealed, { storageNodes: [viaProxy], replication: 1 })
  t.ok(await storage.ipfs.isPinned(cid), 'the storage node pinned the upload (through the capturing proxy)')
  await storage.stop() // flush its stores before reading the files

  const secrets: Array<[string, Uint8Array]> = [
    ['user private key seed', seed('privacy-user')], ['doctor private key seed', seed('privacy-doctor')],
    ['Ik', ik], ['epoch secret', epochSecret], ['dk', doctorKeys.dk], ['plaintext marker', utf8Bytes(marker)], ['plaintext batch', plaintext.subarray(0, 48)]
  ]
  const seen: Array<[string, Uint8Array[]]> = [
    ['captured wire bytes', [new Uint8Array(Buffer.concat(wire))]],
    ['storage node files on disk', await filesUnder(join(dir, 'storage'))],
    ['public chain data (tx_key, tx_IoT)', [encodeTx(txKey), encodeTx(txIoT)]]
  ]
  t.ok(wire.length > 0 && seen[1]![1].length > 0, `captured ${Buffer.concat(wire).length} wire bytes and ${seen[1]![1].length} files`)
  for (const [where, blobs] of seen) {
    for (const [what, bytes] of secrets) t.notOk(blobs.some((b) => contains(b, bytes)), `${where}: no ${what}`)
  }
  t.ok(seen[1]![1].some((b) => contains(b, sealed.subarray(20, 52))), 'the storage node does hold the sealed batch (the scan reads what it stores)')

  // the granted doctor fetches from the storage node and reads it
  const again = await storageNode(t, join(dir, 'storage'))
  const doctorNode = await ipfsNode(t, join(dir, 'doctor'))
  const fetched = await doctorNode.fetchFrom(addr(again), cid)
  t.ok(equalBytes(openBatch(doctorKeys.ik, user.id, 1, fetched), plaintext), 'the doctor decrypts the batch it fetched')
})
