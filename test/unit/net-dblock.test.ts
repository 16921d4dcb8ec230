/**
 * The Dblock gossip handler (paper §IV-B3 Docchain; DESIGN §6): a Dblock is
 * passed on only with a 2f+1 certificate of the current accounting nodes;
 * a short or foreign certificate, or a broken body, is invalid data.
 */
import t from 'tap'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { buildTxDiag, dblockProposal, encodeDblock, sha256, signCommit, utf8Bytes, type Dblock } from '../../hub/src/core/index.ts'
import { classify, dblockHandler } from '../../hub/src/net/gossip.ts'
import { who } from '../helpers/core.ts'

const members = [who('acc1'), who('acc2'), who('acc3'), who('acc4')]
const doctor = who('doctor')

function block (signers: typeof members): Dblock {
  const diag = buildTxDiag(doctor, { ts: 1000, causes: [sha256(utf8Bytes('iot'))], hedm: sha256(utf8Bytes('dm')) })
  const b = dblockProposal({ index: 1, gtime: 1000, prehash: sha256(utf8Bytes('prev')), view: 0, leader: members[0]!.id, txs: [diag] })
  return { ...b, cert: signers.map((m) => signCommit(m.signing, b.header, 0)) }
}

t.test('certificates decide', async (t) => {
  const got: Dblock[] = []
  const handle = dblockHandler(() => members.map((m) => m.id), (b) => { got.push(b); return { accepted: true } })
  const ok = await handle(encodeDblock(block(members.slice(0, 3))), 'peer')
  t.equal(classify('dblock', ok), TopicValidatorResult.Accept, '2f+1 = 3 of 4 signatures')
  t.equal(got.length, 1)
  const short = await handle(encodeDblock(block(members.slice(0, 2))), 'peer')
  t.equal(classify('dblock', short), TopicValidatorResult.Reject, `2 of 4: ${short.accepted ? '' : short.code}`)
  const outsider = await handle(encodeDblock(block([...members.slice(0, 2), who('mallory')])), 'peer')
  t.equal(classify('dblock', outsider), TopicValidatorResult.Reject, 'a signer outside the accounting set')
  const bytes = encodeDblock(block(members))
  bytes[bytes.length - 1]! ^= 1
  t.equal(classify('dblock', await handle(bytes, 'peer')), TopicValidatorResult.Reject, 'a broken signature')
  t.equal(classify('dblock', await handle(Uint8Array.of(1, 2, 3), 'peer')), TopicValidatorResult.Reject, 'undecodable')
  t.equal(got.length, 1, 'only the certified block was handed on')
})
