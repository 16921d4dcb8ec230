/**
 * Attack: an accounting node releases its shares for one emergency request
 * a second time (a replayed or re-signed release), or a release is handed
 * to the doctor twice. Docchain refuses the second release of a member with
 * ERR_REPLAYED_RELEASE (the registry fold every node applies), and the
 * doctor's collector refuses a member's release it already holds.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildTxRelease, encodeTx, ReplayedReleaseError, toHex, txId } from '../../hub/src/core/index.ts'
import { EmergencyKeys } from '../../hub/src/roles/doctor/emergency.ts'
import { emergencyWorld, erDoctor, members } from '../helpers/emergency-world.ts'

t.test('a second release of one request by one member is refused', async (t) => {
  const w = await emergencyWorld(t, t.testdir({}))
  await w.epoch({ kind: 'init' })
  const req = w.request([1])
  t.ok((await w.submit(req)).ok)
  const releases = await w.releases(req, 4)
  // member 0 signs a fresh release of the same request (another ts, another ephemeral key: another id)
  const again = buildTxRelease(members[0]!, { ts: releases[0]!.ts + 1, request: req, requestId: txId(req), keys: [...w.txKeys.values()], doctorX25519: erDoctor.agreement.publicKey, ikmE: new Uint8Array(randomBytes(32)) })
  const first = releases.find((r) => toHex(r.member) === toHex(members[0]!.id))!
  t.not(toHex(txId(again)), toHex(txId(first)))
  for (const i of [0, 2]) {
    const r = await w.submit(encodeTx(again), i)
    t.match(r, { ok: false, code: 'ERR_REPLAYED_RELEASE', reason: /already released its shares/ }, `member ${i} refuses it`)
  }
  t.equal((await w.docchain()).filter((x) => x.kind === 'release').length, 4, 'one release per member on Docchain')

  const ek = new EmergencyKeys(erDoctor, req, [...w.txKeys.values()])
  ek.add(first)
  t.throws(() => { ek.add(first) }, ReplayedReleaseError, 'the doctor refuses a release it holds')
  t.throws(() => { ek.add(again) }, ReplayedReleaseError, 'and a second one of the same member')
})
