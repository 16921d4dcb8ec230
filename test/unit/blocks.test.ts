import t from 'tap'
import {
  bodyTx, checkDblockStructure, checkUblockHeader, checkUblockStructure, dblockProposal, decodeDblock, decodeUblock,
  decodeUblockHeader, DEVNET, DuplicateTxError, encodeDblock, encodeUblock, encodeUblockHeader, genesisUblock, HealthchainError,
  InsufficientWorkError, InvalidFieldError, LimitExceededError, MAX_BLOCK_BODY_BYTES, merkleRoot, MerkleRootMismatchError,
  QuorumError, signCommit, TruncatedError, solveUblockHeader, TimestampError, toHex, ublockHash, ublockTemplate, verifyCertificate,
  buildTxIoT, buildTxDiag, type NetworkParams, type Ublock, BadSignatureError
} from '../../hub/src/core/index.ts'
import { doctors, sampleTxReg, sampleTxs, seed, TS, user, who } from '../helpers/core.ts'

// A test network whose target is ~1 in 2^12 hashes: fast to mine, still selective.
const NET: NetworkParams = { ...DEVNET, powLimitBits: 0x1f0fffff, genesisBits: 0x1f0fffff }

function mined (txs = sampleTxs().filter((x) => x.kind === 'iot' || x.kind === 'key' || x.kind === 'coin')): { block: Ublock, parent: Ublock } {
  const parent = genesisUblock(NET)
  const tmpl = ublockTemplate({ prev: parent.header, prevHash: ublockHash(parent.header), gtime: NET.genesisTime + 10, bits: NET.genesisBits, miner: user.id, reward: NET.blockReward, txs })
  const header = solveUblockHeader(tmpl.header, 1_000_000)
  if (header === null) throw new Error('could not mine')
  return { block: { ...tmpl, header }, parent }
}

const ctxOf = (parent: Ublock) => ({ prevHash: ublockHash(parent.header), prevIndex: 0, expectedBits: NET.genesisBits, prevTimes: [parent.header.gtime], now: NET.genesisTime + 20 })

t.test('Ublock round trip and context checks', async (t) => {
  const { block, parent } = mined()
  t.equal(encodeUblockHeader(block.header).length, 89)
  const back = decodeUblock(encodeUblock(block))
  t.same(back.header, block.header)
  t.same(back.txs.map((x) => toHex(x.id)), block.txs.map((x) => toHex(x.id)))
  t.doesNotThrow(() => checkUblockStructure(back))
  t.doesNotThrow(() => checkUblockHeader(NET, back.header, ctxOf(parent)))
  t.throws(() => checkUblockHeader(NET, back.header, { ...ctxOf(parent), now: NET.genesisTime - 100 }), TimestampError, 'from the future')
  t.throws(() => checkUblockHeader(NET, back.header, { ...ctxOf(parent), expectedBits: 0x1e0fffff }), InsufficientWorkError, 'wrong bits')
  t.throws(() => checkUblockHeader(NET, back.header, { ...ctxOf(parent), prevHash: seed('x') }), InvalidFieldError, 'wrong parent')
  t.doesNotThrow(() => checkUblockStructure(genesisUblock(NET)))
  t.equal(solveUblockHeader({ ...block.header, bits: 0x1d00ffff }, 50), null, 'a hard target is not met in 50 tries')
})

t.test('any single flipped byte of a mined header is rejected', async (t) => {
  const { block, parent } = mined()
  const bytes = encodeUblockHeader(block.header)
  let rejected = 0
  for (let i = 0; i < bytes.length; i++) {
    const bad = bytes.slice(); bad[i]! ^= 0x01
    try { checkUblockHeader(NET, decodeUblockHeader(bad), ctxOf(parent)) } catch (err) {
      if (err instanceof HealthchainError) rejected++
      else throw err
    }
  }
  t.equal(rejected, bytes.length, 'every flip rejected')
})

t.test('Ublock structure rules', async (t) => {
  const { block } = mined()
  const noCoinbase = { ...block, txs: block.txs.slice(1), header: { ...block.header, userroot: merkleRoot(block.txs.slice(1).map((x) => x.id)) } }
  t.throws(() => checkUblockStructure(noCoinbase), InvalidFieldError)
  const dup = [...block.txs, block.txs[1]!]
  t.throws(() => checkUblockStructure({ ...block, txs: dup, header: { ...block.header, userroot: merkleRoot(dup.map((x) => x.id)) } }), DuplicateTxError, 'duplicate tx')
  t.throws(() => checkUblockStructure({ ...block, txs: block.txs.slice(0, 2) }), MerkleRootMismatchError, 'root mismatch')
  const diag = sampleTxs().find((x) => x.kind === 'diag')!
  const withDiag = [...block.txs, bodyTx(diag)]
  t.throws(() => checkUblockStructure({ ...block, txs: withDiag, header: { ...block.header, userroot: merkleRoot(withDiag.map((x) => x.id)) } }), InvalidFieldError, 'tx_diag is not a Userchain tx')
  t.throws(() => decodeUblock(encodeUblock(block).subarray(0, 120)), TruncatedError, 'truncated block')
})

t.test('1 MiB body limit: a full block fits, one more tx does not', async (t) => {
  const txs = []
  let size = 0
  for (let i = 0; size < MAX_BLOCK_BODY_BYTES + 200; i++) {
    const tx = buildTxIoT(user, { ts: TS + i, heiot: seed(`b${i}`), epoch: 1 })
    txs.push(tx)
    size += 138
  }
  const tmpl = ublockTemplate({ prev: null, prevHash: new Uint8Array(32), gtime: 1, bits: NET.genesisBits, miner: user.id, reward: 0, txs })
  t.throws(() => checkUblockStructure(tmpl), LimitExceededError, 'oversize body rejected')
  t.throws(() => decodeUblock(encodeUblock(tmpl)), LimitExceededError, 'oversize body rejected by the decoder')
})

t.test('Dblock round trip and commit certificate (2f+1 of 3f+1)', async (t) => {
  const acct = [who('a0'), who('a1'), who('a2'), who('a3')]
  const diag = buildTxDiag(doctors[0]!, { ts: TS, causes: [seed('c')], hedm: seed('h') })
  const p = dblockProposal({ index: 1, gtime: TS, prehash: seed('prev'), view: 0, leader: acct[0]!.id, txs: [diag] })
  t.doesNotThrow(() => checkDblockStructure(p))
  const members = acct.map((a) => a.id)
  const cert = acct.slice(0, 3).map((a) => signCommit(a.signing, p.header, 2))
  const block = decodeDblock(encodeDblock({ ...p, cert }))
  t.same(block.header, p.header)
  t.same(block.cert, cert, 'the certificate round trips with its view')
  t.doesNotThrow(() => verifyCertificate(block, members), '3 of 4 is final')
  t.throws(() => verifyCertificate({ ...block, cert: cert.slice(0, 2) }, members), QuorumError, '2 of 4 is not')
  t.throws(() => verifyCertificate({ ...block, cert: [cert[0]!, cert[0]!, cert[1]!] }, members), InvalidFieldError, 'same signer twice')
  t.throws(() => verifyCertificate({ ...block, cert: [...cert.slice(0, 2), signCommit(who('x').signing, p.header, 2)] }, members), InvalidFieldError, 'outsider')
  // Votes of different views are never pooled (a block can collect 2f+1 commits across views without being committed).
  const mixed = [cert[0]!, cert[1]!, signCommit(acct[2]!.signing, p.header, 3)]
  t.throws(() => verifyCertificate({ ...block, cert: mixed }, members), InvalidFieldError, 'signatures of two views')
  t.throws(() => encodeDblock({ ...block, cert: mixed }), InvalidFieldError, 'a certificate of two views does not encode')
  t.throws(() => verifyCertificate({ ...block, cert: cert.map((c) => ({ ...c, view: 3 })) }, members), BadSignatureError, 'the view is signed')
  const forged = { ...cert[2]!, sig: cert[1]!.sig }
  t.throws(() => verifyCertificate({ ...block, cert: [cert[0]!, cert[1]!, forged] }, members), BadSignatureError, 'bad signature')
  t.throws(() => verifyCertificate({ ...block, header: { ...block.header, gtime: TS + 1 } }, members), BadSignatureError, 'certificate is bound to the header')
  const iot = sampleTxs()[0]!
  t.throws(() => checkDblockStructure({ ...p, txs: [bodyTx(iot)], header: { ...p.header, diagroot: merkleRoot([bodyTx(iot).id]) } }), InvalidFieldError, 'only tx_diag and TxReg on Docchain')
})

t.test('Dblock with registry records: order kept, Merkle root over every id, round trip, any flipped byte of the body rejected', async (t) => {
  const reg = sampleTxReg('register', 1)
  const diag = buildTxDiag(doctors[1]!, { ts: TS, causes: [seed('c')], hedm: seed('h') })
  const p = dblockProposal({ index: 2, gtime: TS, prehash: seed('prev'), view: 1, leader: who('a1').id, txs: [reg, diag, sampleTxReg('suspend', 2)] })
  t.doesNotThrow(() => checkDblockStructure(p))
  t.same(p.txs.map((x) => x.tx.kind), ['reg', 'diag', 'reg'], 'block order is the order PBFT decided')
  t.equal(toHex(p.header.diagroot), toHex(merkleRoot(p.txs.map((x) => x.id))), 'diagroot covers the records too')
  const bytes = encodeDblock(p)
  const back = decodeDblock(bytes)
  t.same(back.txs.map((x) => toHex(x.bytes)), p.txs.map((x) => toHex(x.bytes)), 'round trip')
  t.doesNotThrow(() => checkDblockStructure(back))
  t.throws(() => checkDblockStructure({ ...p, txs: [p.txs[1]!, p.txs[0]!, p.txs[2]!] }), MerkleRootMismatchError, 'reordering changes the root')
  const headerLen = 1 + 4 + 8 + 32 + 32 + 4 + 32 + 1
  let rejected = 0
  for (let i = headerLen; i < bytes.length; i++) {
    const bad = bytes.slice(); bad[i]! ^= 0x01
    try { checkDblockStructure(decodeDblock(bad)) } catch (err) { if (err instanceof HealthchainError) { rejected++; continue } throw err }
  }
  t.equal(rejected, bytes.length - headerLen, 'every flipped body byte: a decode error or a root mismatch')
  const { block } = mined()
  const withReg = [...block.txs, bodyTx(reg)]
  t.throws(() => checkUblockStructure({ ...block, txs: withReg, header: { ...block.header, userroot: merkleRoot(withReg.map((x) => x.id)) } }), InvalidFieldError, 'a TxReg is not a Userchain tx')
})
