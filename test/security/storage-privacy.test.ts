/**
 * A storage node cannot learn plaintext (paper §III-B: storage nodes are
 * honest but curious; §IV-B2: only Enc(Ik, IoT) and Enc(dk, diagnosis)
 * leave the user and the doctor). A user uploads a sealed batch to a real
 * storage node over libp2p, the granted doctor fetches it and uploads its
 * sealed diagnosis, the user fetches that — all through a capturing TCP
 * proxy. The storage node's Noise is wrapped so the test also records every
 * byte the node receives AFTER libp2p decryption (multistream, Yamux,
 * identify, the store protocol: everything its handlers could read). Neither
 * the decrypted input, nor the wire bytes, nor the storage node's files on
 * disk, nor the public chain data of the epoch (tx_key, tx_IoT) hold any key
 * material — the user's and the doctor's Ed25519 seeds and X25519 private
 * keys, Ik (the batch AES key), the epoch secret, dk (the diagnosis AES
 * key), raw, hex or base64 — or any plaintext; the doctor and the user
 * still decrypt what they fetched. The decrypted capture does hold the
 * sealed bytes (so it is the right side of Noise), the wire capture does not.
 */
import t from 'tap'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { StreamMessageEvent, type ConnectionEncrypter, type SecuredConnection } from '@libp2p/interface'
import {
  buildTxIoT, buildTxKey, contentDigest, deriveDiagnosisKey, encodeTx, equalBytes, openAsDoctor, openAsUser, openBatch, openDiagnosis,
  sealBatch, sealDiagnosis, sha256, utf8Bytes, type Identity
} from '../../hub/src/core/index.ts'
import { createIpfsLibp2p, uploadBatch } from '../../hub/src/ipfs/index.ts'
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

/** Noise, with every byte received after decryption handed to `onData`. */
function tappedNoise (onData: (bytes: Uint8Array) => void): (components: Parameters<ReturnType<typeof noise>>[0]) => ConnectionEncrypter {
  return (components) => {
    const inner = noise()(components)
    // tee what the connection delivers to its readers (a listener of our own would take data before the muxer is attached)
    const tap = <E>(s: SecuredConnection<E>): SecuredConnection<E> => {
      const conn = s.connection
      const dispatch = conn.dispatchEvent.bind(conn)
      conn.dispatchEvent = (ev: Event): boolean => {
        if (ev instanceof StreamMessageEvent) onData(ev.data.subarray())
        return dispatch(ev)
      }
      return s
    }
    return {
      protocol: inner.protocol,
      secureInbound: async (conn, opts) => tap(await inner.secureInbound(conn, opts)),
      secureOutbound: async (conn, opts) => tap(await inner.secureOutbound(conn, opts))
    }
  }
}

/** An identity's private keys as bytes: the Ed25519 seed and the X25519 scalar. */
function privateKeys (label: string, id: Identity): Array<[string, Uint8Array]> {
  const x = id.agreement.key.export({ format: 'jwk' }).d!
  return [[`${label} Ed25519 seed`, seed(label)], [`${label} X25519 private key`, new Uint8Array(Buffer.from(x, 'base64url'))]]
}

/** Raw, hex and base64 forms of a secret. */
function forms (bytes: Uint8Array): Uint8Array[] {
  const b = Buffer.from(bytes)
  return [bytes, utf8Bytes(b.toString('hex')), utf8Bytes(b.toString('base64')), utf8Bytes(b.toString('base64url'))]
}

t.test('what a storage node receives (after decryption), stores and relays holds no key material and no plaintext', async (t) => {
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
  const diagMarker = 'DIAGNOSIS-MARKER-b41e07'
  const diagnosis = utf8Bytes(JSON.stringify({ status: 'final', severity: 'urgent', note: diagMarker, spo2: 88 }))
  const cause = sha256(sealed)
  const sealedDiag = sealDiagnosis(doctorKeys.dk, seed('privacy-diag-nonce').subarray(0, 12), doctor.id, cause, diagnosis)

  // the storage node, its libp2p tapped after Noise, reached only through a capturing proxy
  const decrypted: Uint8Array[] = []
  const p2p = await createIpfsLibp2p({ connectionEncrypters: [tappedNoise((b) => { decrypted.push(b) })] })
  t.teardown(async () => { await p2p.stop() })
  const storage = await storageNode(t, join(dir, 'storage'), { libp2p: p2p })
  const wire: Buffer[] = []
  const port = Number(addr(storage).split('/')[4])
  const proxy = await TcpProxy.start(port, { onData: (_d, chunk) => { wire.push(chunk) } })
  t.teardown(() => proxy.close())
  const viaProxy = addr(storage).replace(`/tcp/${port}/`, `/tcp/${proxy.port}/`)

  const userNode = await ipfsNode(t, join(dir, 'user'))
  const { cid } = await uploadBatch(userNode, sealed, { storageNodes: [viaProxy], replication: 1 })
  t.ok(await storage.ipfs.isPinned(cid), 'the storage node pinned the user\'s upload')
  const doctorNode = await ipfsNode(t, join(dir, 'doctor'))
  const fetched = await doctorNode.fetchFrom(viaProxy, cid)
  t.ok(equalBytes(openBatch(doctorKeys.ik, user.id, 1, fetched), plaintext), 'the granted doctor decrypts the batch it fetched from the storage node')
  const { cid: diagCid } = await uploadBatch(doctorNode, sealedDiag, { storageNodes: [viaProxy], replication: 1 })
  const userKeys = openAsUser(txKey, user)
  const dk = deriveDiagnosisKey(userKeys.epochSecret, user.id, 1, doctor.id)
  t.ok(equalBytes(openDiagnosis(dk, doctor.id, cause, await userNode.fetchFrom(viaProxy, diagCid)), diagnosis), 'the user decrypts the doctor\'s diagnosis fetched from the storage node')
  await storage.stop() // flush its stores before reading the files

  const secrets: Array<[string, Uint8Array]> = [
    ...privateKeys('privacy-user', user), ...privateKeys('privacy-doctor', doctor),
    ['Ik (batch AES-256-GCM key)', ik], ['epoch secret', epochSecret], ['dk (diagnosis AES-256-GCM key)', doctorKeys.dk]
  ]
  const plain: Array<[string, Uint8Array]> = [
    ['reading marker', utf8Bytes(marker)], ['plaintext batch', plaintext.subarray(0, 48)], ['diagnosis marker', utf8Bytes(diagMarker)], ['plaintext diagnosis', diagnosis.subarray(0, 40)]
  ]
  const input = new Uint8Array(Buffer.concat(decrypted))
  const seen: Array<[string, Uint8Array[]]> = [
    ['decrypted input of the storage node', [input]],
    ['captured wire bytes', [new Uint8Array(Buffer.concat(wire))]],
    ['storage node files on disk', await filesUnder(join(dir, 'storage'))],
    ['public chain data (tx_key, tx_IoT)', [encodeTx(txKey), encodeTx(txIoT)]]
  ]
  t.ok(decrypted.length > 0 && wire.length > 0 && seen[2]![1].length > 0, `captured ${input.length} decrypted bytes in ${decrypted.length} messages, ${Buffer.concat(wire).length} wire bytes, ${seen[2]![1].length} files`)
  t.ok(contains(input, sealed.subarray(20, 52)) && contains(input, sealedDiag.subarray(20, 52)), 'the decrypted capture holds the sealed uploads: it is what the store protocol handler reads')
  t.notOk(contains(seen[1]![1][0]!, sealed.subarray(20, 52)), 'the wire capture does not (Noise encrypts it)')
  for (const [where, blobs] of seen) {
    const leaks = [...secrets.flatMap(([what, b]) => forms(b).map((f): [string, Uint8Array] => [what, f])), ...plain].filter(([, b]) => blobs.some((x) => contains(x, b))).map(([what]) => what)
    t.same(leaks, [], `${where}: none of ${secrets.length} keys (raw, hex, base64) and ${plain.length} plaintexts`)
  }
  t.ok(seen[2]![1].some((b) => contains(b, sealed.subarray(20, 52))), 'the storage node does hold the sealed batch (the scan reads what it stores)')
})
