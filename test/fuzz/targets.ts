/**
 * Every decoder and parser that takes bytes from outside the process, as a
 * fuzz target (engine.ts): what the network, a device, a file on disk or a
 * decrypted batch can hand us. Each is the real entry point the hub uses,
 * with seeds that are valid encodings, and "clean" means the typed error of
 * its area (HealthchainError) — anything else would surface as a crash or an
 * unhandled rejection in the running node.
 */
import { EventEmitter } from 'node:events'
import { createRequire } from 'node:module'
import { readFileSync } from 'node:fs'
import {
  buildIdentityRecord, compactFromUblockBytes, decodeBlockTxn, decodeCompactBlock, decodeGetBlockTxn, encodeBlockTxn, encodeCompactBlock, encodeGetBlockTxn, decodeDblock, decodeDblockHeader, decodeIdentityRecord, decodeTx, decodeUblock, decodeUblockHeader, dblockProposal,
  DEVNET, encodeDblock, encodeDblockHeader, encodeIdentityRecord, encodeTx, encodeUblock, encodeUblockHeader, genesisUblock, HealthchainError,
  merkleProofs, sha256, ublockTemplate, utf8Bytes, type TxDiag
} from '../../hub/src/core/index.ts'
import { decodeMessage } from '../../hub/src/core/pbft/messages.ts'
import { signMessage } from '../../hub/src/core/pbft/envelope.ts'
import { decodeRegistryRecord, encodeRegistryRecord } from '../../hub/src/core/pbft/registry.ts'
import { decodeSnapshot, encodeSnapshot } from '../../hub/src/store/pbft-log.ts'
import {
  decodeHashes, decodeHeaders, decodeHeadersRequest, decodeProvenTx, encodeHashes, encodeHeaders, encodeHeadersRequest, encodeProvenTx
} from '../../hub/src/net/protocols.ts'
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse, KIND, STATUS, HAVE, type Kind } from '../../hub/src/ipfs/protocol.ts'
import { formatLine, parseLine } from '../../hub/src/ingest/line.ts'
import { LineSplitter } from '../../hub/src/ingest/lines.ts'
import { topicDevice } from '../../hub/src/ingest/mqtt.ts'
import { parseFlushCondition } from '../../hub/src/ingest/flush-rule.ts'
import { GuardedFirmataPort } from '../../hub/src/ingest/firmata-guard.ts'
import { parseHubConfig } from '../../hub/src/hub-config.ts'
import { parseKeystoreFile, KEYSTORE_VERSION } from '../../hub/src/store/keystore.ts'
import { decodeBatch, encodeBatch } from '../../hub/src/nodered/batcher.ts'
import { parseBatch } from '../../hub/src/roles/doctor/doctor.ts'
import { parseDiag, parseDocTx } from '../../hub/src/roles/accounting/validate.ts'
import { sampleKeyVariants, sampleTxReg, sampleTxs, user, TS, seed } from '../helpers/core.ts'
import { TESTNET } from '../helpers/userchain.ts'
import { key, pp, prep, samples } from '../helpers/pbft-samples.ts'
import { GENESIS, txPool } from './pbft-sim.ts'
import type { FuzzTarget } from './engine.ts'

const typed = (err: unknown): boolean => err instanceof HealthchainError
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8')
const bytes = (s: string): Uint8Array => utf8Bytes(s)

function binary (name: string, seeds: () => Uint8Array[], decode: (b: Uint8Array) => unknown, maxBytes?: number): FuzzTarget {
  return { name, seeds, run: (b) => { decode(b) }, clean: typed, ...(maxBytes === undefined ? {} : { maxBytes }) }
}

/** Keystore files as saveKeystore writes them (the format only: parseKeystoreFile never derives a key). */
const KEYSTORES = (): Uint8Array[] => [1, 2 ** 15].map((N) => bytes(JSON.stringify({
  version: KEYSTORE_VERSION,
  kind: 'healthchain-keystore',
  id: 'ab'.repeat(32),
  kdf: { name: 'scrypt', N, r: 8, p: 1, salt: '01'.repeat(16) },
  cipher: { name: 'aes-256-gcm', nonce: '02'.repeat(12), ct: '03'.repeat(48) }
}, null, 2) + '\n'))

const txs = sampleTxs()
const diag = (): TxDiag[] => txPool(3)
const dblock = (): Uint8Array => encodeDblock(dblockProposal({ index: 1, gtime: TS, prehash: seed('p'), view: 0, leader: user.id, txs: diag() }))
/** A Dblock holding both Docchain kinds: registry records around a tx_diag. */
const dblockWithRecords = (): Uint8Array => encodeDblock(dblockProposal({ index: 2, gtime: TS, prehash: seed('p'), view: 1, leader: user.id, txs: [sampleTxReg('register', 1), ...diag().slice(0, 1), sampleTxReg('suspend', 2)] }))
const ublock = (): Uint8Array => encodeUblock(ublockTemplate({ prev: null, prevHash: new Uint8Array(32), gtime: 1, bits: DEVNET.genesisBits, miner: user.id, reward: 1, txs: txs.filter((x) => x.kind === 'iot' || x.kind === 'key') }))

function netSeeds (): Record<string, Uint8Array> {
  const G = genesisUblock(TESTNET).header
  const iots = txs.filter((x) => x.kind === 'iot')
  const block = ublockTemplate({ prev: G, prevHash: sha256(utf8Bytes('g')), gtime: 5, bits: TESTNET.powLimitBits, miner: user.id, reward: 1, txs: iots })
  const proofs = merkleProofs(block.txs.map((x) => x.id))
  return {
    headersRequest: encodeHeadersRequest([seed('a'), seed('b')], 100),
    headers: encodeHeaders({ height: 3, hash: seed('t') }, [G, block.header]),
    hashes: encodeHashes([seed('a'), seed('b')], 16),
    provenTx: encodeProvenTx({ tx: block.txs[1]!, header: block.header, pos: 1, size: block.txs.length, proof: proofs[1]! })
  }
}

const CID = seed('cid')
const STORE_REQUESTS = (): Uint8Array[] => [
  encodeRequest({ kind: KIND.PUT, block: bytes('sealed batch') }),
  encodeRequest({ kind: KIND.ANNOUNCE, digest: CID }),
  encodeRequest({ kind: KIND.GET, digest: CID }),
  encodeRequest({ kind: KIND.HAS, digest: CID })
]

function storeResponseTarget (kind: Kind, seeds: () => Uint8Array[]): FuzzTarget {
  return binary(`ipfs store response (${kind})`, seeds, (b) => decodeResponse(kind, b))
}

const LINES = (): Uint8Array[] => [
  formatLine({ d: 'ox-1', b: 1, s: 7, t: 'spo2', v: 97, ts: 1200 }),
  formatLine({ d: 'ox-1', b: 1, s: 8, t: 'hr', v: 72, ts: 1300 }),
  formatLine({ d: 'th-1', b: 2, s: 1, t: 'temp', v: 36.9, ts: 5 }),
  formatLine({ d: 'ecg-1', b: 3, s: 2, t: 'ecg', v: [512, 530, 610, 900, 450], ts: 9 }),
  formatLine({ d: 'acc-1', b: 1, s: 3, t: 'fall', v: 1, ts: 11 })
].map(bytes)

// firmata-io's parser behind the hub's port guard (ingest/firmata-board.ts), fed
// as the hub feeds it: one long-lived board per thread, after the board's
// REPORT_VERSION (so every response handler is live).
const require = createRequire(import.meta.url)
const firmataPort = new EventEmitter() as EventEmitter & { write: (b: unknown, cb?: () => void) => boolean }
firmataPort.write = (_b, cb) => { cb?.(); return true }
let guarded: GuardedFirmataPort | null = null
export function firmataGuard (): GuardedFirmataPort {
  if (guarded === null) {
    const { Firmata } = require('firmata-io') as { Firmata: new (port: unknown, opts: object) => EventEmitter }
    guarded = new GuardedFirmataPort(firmataPort)
    const board = new Firmata(guarded, { reportVersionTimeout: 1000 })
    board.on('error', () => {})
    guarded.attach(board)
    firmataPort.emit('data', Buffer.from([0xf9, 0x02, 0x05])) // REPORT_VERSION 2.5: clears the version timer
  }
  return guarded
}
export function feedFirmata (b: Uint8Array): void { firmataGuard(); firmataPort.emit('data', Buffer.from(b)) }
const sysex = (...b: number[]): number[] => [0xf0, ...b, 0xf7]
const FIRMATA = (): Uint8Array[] => [
  Uint8Array.of(0xf9, 0x02, 0x05),
  Uint8Array.from(sysex(0x79, 0x02, 0x05, ...[...'StandardFirmata.ino'].flatMap((c) => [c.charCodeAt(0), 0]))),
  Uint8Array.from(sysex(0x6c, 0x00, 0x01, 0x01, 0x01, 0x7f, 0x00, 0x01, 0x01, 0x02, 0x0a, 0x7f)), // capabilities of two pins
  Uint8Array.from(sysex(0x6a, 0x7f, 0x7f, 0x00, 0x01)), // analog mapping
  Uint8Array.from(sysex(0x6e, 0x02, 0x02, 0x10, 0x03)), // pin state
  Uint8Array.from(sysex(0x71, 0x48, 0x00, 0x69, 0x00)), // string data
  Uint8Array.from(sysex(0x77, 0x48, 0x00, 0x00, 0x00, 0x10, 0x00)), // I2C reply
  Uint8Array.of(0xe0, 0x7f, 0x03, 0xe1, 0x10, 0x02), // analog messages
  Uint8Array.of(0x90, 0x7f, 0x01, 0x91, 0x00, 0x00) // digital messages
]

export const TARGETS: readonly FuzzTarget[] = [
  // core (paper §IV-B1): transactions, blocks, identity records
  binary('tx', () => [...txs, ...Object.values(sampleKeyVariants())].map(encodeTx), decodeTx, 2048),
  binary('ublock', () => [ublock(), encodeUblock(genesisUblock(DEVNET))], decodeUblock),
  binary('ublock header', () => [encodeUblockHeader(genesisUblock(DEVNET).header)], decodeUblockHeader, 256),
  binary('cmpctblock', () => [encodeCompactBlock(compactFromUblockBytes(ublock(), new Uint8Array(8))), encodeCompactBlock(compactFromUblockBytes(ublock(), new Uint8Array(8).fill(1), [0, 1]))], decodeCompactBlock),
  binary('getblocktxn', () => [encodeGetBlockTxn({ hash: new Uint8Array(32), indexes: [1, 2, 5, 300] })], decodeGetBlockTxn, 512),
  binary('blocktxn', () => [encodeBlockTxn({ hash: new Uint8Array(32), txs: txs.slice(0, 2).map(encodeTx) })], decodeBlockTxn),
  binary('dblock', () => [dblock(), dblockWithRecords(), encodeDblock(GENESIS)], decodeDblock),
  binary('dblock header', () => [encodeDblockHeader(GENESIS.header)], decodeDblockHeader, 256),
  binary('identity record', () => [encodeIdentityRecord(buildIdentityRecord(user, TS))], decodeIdentityRecord, 512),
  binary('tx_diag submission', () => diag().map(encodeTx), parseDiag, 2048),
  binary('Docchain tx submission (tx_diag, TxReg)', () => [...diag().slice(0, 1), sampleTxReg('register', 1), sampleTxReg('suspend', 7)].map(encodeTx), parseDocTx, 2048),
  // Docchain (§IV-B3): PBFT messages, doctor registry records, the persisted PBFT log
  binary('pbft message', () => samples.map(([codec, body]) => signMessage(codec, body, key).bytes), decodeMessage),
  binary('registry record (TxReg)', () => [encodeRegistryRecord(sampleTxReg('register', 1)), encodeRegistryRecord(sampleTxReg('suspend', 2))], decodeRegistryRecord, 1024),
  binary('pbft log snapshot', () => [encodeSnapshot({
    view: 2, inViewChange: true, viewStart: 9, stableSeq: 4, stableDigest: seed('s'), stableProof: [prep.bytes],
    prepared: [{ prePrepare: pp.bytes, prepares: [prep.bytes, prep.bytes] }], ownViewChange: prep.bytes, newView: null, messages: [pp.bytes, prep.bytes]
  })], decodeSnapshot),
  // libp2p request/response bodies (net/protocols.ts)
  binary('net headers request', () => [netSeeds().headersRequest!], decodeHeadersRequest),
  binary('net headers', () => [netSeeds().headers!], decodeHeaders),
  binary('net hashes', () => [netSeeds().hashes!], (b) => decodeHashes(b, 16)),
  binary('net proven tx', () => [netSeeds().provenTx!], decodeProvenTx),
  // IPFS store protocol (ipfs/protocol.ts), both directions
  binary('ipfs store request', STORE_REQUESTS, decodeRequest),
  storeResponseTarget(KIND.PUT, () => [encodeResponse(KIND.PUT, { status: STATUS.OK, digest: CID }), encodeResponse(KIND.PUT, { status: STATUS.REFUSED, reason: 'full' })]),
  storeResponseTarget(KIND.GET, () => [encodeResponse(KIND.GET, { status: STATUS.OK, block: bytes('sealed') })]),
  storeResponseTarget(KIND.HAS, () => [encodeResponse(KIND.HAS, { status: STATUS.OK, have: HAVE.PINNED })]),
  // devices: serial lines and MQTT payloads share the line contract (ingest/line.ts)
  { name: 'reading line (serial, MQTT payload)', seeds: LINES, run: (b) => { parseLine(text(b)) }, clean: typed, maxBytes: 1024 },
  {
    name: 'serial byte stream',
    seeds: () => [new Uint8Array(LINES().flatMap((l) => [...l, 10]))],
    run: (b) => {
      const s = new LineSplitter()
      for (let i = 0; i < b.length; i += 7) {
        for (const p of s.push(b.subarray(i, i + 7))) if (p.kind === 'line') { try { parseLine(p.text) } catch (err) { if (!typed(err)) throw err } }
      }
    },
    clean: () => false // the splitter itself never throws
  },
  { name: 'mqtt topic', seeds: () => ['healthchain/hub/ox-1/readings', 'healthchain/hub/+/readings', 'a/b'].map(bytes), run: (b) => { topicDevice('hub', text(b)) }, clean: () => false, maxBytes: 300 },
  { name: 'firmata stream', seeds: FIRMATA, run: feedFirmata, clean: () => false, maxBytes: 1024 },
  // files: the hub config, aggregation thresholds
  { name: 'hub config', seeds: () => [readFileSync(new URL('../../hub/hub.example.json', import.meta.url))], run: (b) => { parseHubConfig(text(b), '/tmp') }, clean: typed, maxBytes: 4096 },
  { name: 'keystore file', seeds: KEYSTORES, run: (b) => { parseKeystoreFile(text(b), '/tmp/fuzz.key') }, clean: typed, maxBytes: 2048 },
  { name: 'threshold', seeds: () => ['spo2<92', 'hr>120', 'temp>38.5', 'fall', 'ecg>900', 'news2>=3', 'bp[1]>120'].map(bytes), run: (b) => { parseFlushCondition(text(b)) }, clean: typed, maxBytes: 64 },
  // decrypted batches: the Node-RED batch format and the doctor's reader of it
  { name: 'node-red batch', seeds: () => [encodeBatch(LINES().map((l) => JSON.parse(text(l).trim().replace(/\*[0-9a-f]{8}$/, '')) as never))], run: (b) => { decodeBatch(b) }, clean: typed },
  { name: 'doctor batch reader', seeds: () => [encodeBatch(LINES().map((l) => JSON.parse(text(l).trim().replace(/\*[0-9a-f]{8}$/, '')) as never))], run: (b) => { parseBatch(b) }, clean: typed }
]
