/**
 * Attack: malformed emergency requests — truncated, trailing bytes, epochs
 * unsorted or repeated or zero, too many epochs, an empty or over-long or
 * non-UTF-8 reason, an unknown version. Each is refused at the accounting
 * node before it costs a signature check, with ERR_MALFORMED_EMERGENCY and
 * the field at fault; none reaches Docchain.
 */
import t from 'tap'
import { buildTxEmergency, encodeTx, MAX_EMERGENCY_EPOCHS, MAX_REASON_BYTES, txEmergencyCodec, type TxEmergency } from '../../hub/src/core/index.ts'
import { signBody } from '../../hub/src/core/tx/common.ts'
import { emergencyWorld, erDoctor, patient } from '../helpers/emergency-world.ts'

/** Signed as the doctor would, but without the builder's checks: the codec's encoder refuses these, so the bytes are patched. */
function bytesWith (patch: (b: Uint8Array) => Uint8Array): Uint8Array {
  return patch(encodeTx(buildTxEmergency(erDoctor, { ts: 1_790_000_000, patient: patient.id, epochs: [1, 2], reason: 'unconscious' })))
}

t.test('malformed emergency requests are refused with the field at fault', async (t) => {
  const w = await emergencyWorld(t, t.testdir({}))
  const good = bytesWith((b) => b)
  // layout: type, version, doctor 32, ts varint (5), patient 32, count, epochs…, reason length, reason, sig 64
  const epochsAt = 2 + 32 + 5 + 32
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['truncated', good.slice(0, good.length - 10), /sig: needs 64 more byte/],
    ['trailing bytes', Uint8Array.from([...good, 0]), /trailing/i],
    ['epochs out of order', bytesWith((b) => { const c = b.slice(); c[epochsAt + 1] = 2; c[epochsAt + 2] = 1; return c }), /epochs\[1\].*ascending/],
    ['an epoch named twice', bytesWith((b) => { const c = b.slice(); c[epochsAt + 2] = 1; return c }), /epochs\[1\].*ascending/],
    ['epoch 0', bytesWith((b) => { const c = b.slice(); c[epochsAt + 1] = 0; return c }), /epochs\[0\].*start at 1/],
    ['too many epochs', bytesWith((b) => { const c = b.slice(); c[epochsAt] = MAX_EMERGENCY_EPOCHS + 1; return c }), /epochs/],
    ['a reason that is not UTF-8', bytesWith((b) => { const c = b.slice(); c[epochsAt + 4] = 0xff; return c }), /reason.*UTF-8/],
    ['an unknown version', bytesWith((b) => { const c = b.slice(); c[1] = 9; return c }), /version/]
  ]
  for (const [what, bytes, why] of cases) {
    const r = await w.submit(bytes)
    t.match(r, { ok: false, code: 'ERR_MALFORMED_EMERGENCY', reason: why }, what)
  }
  // what the builder itself refuses, before anything is signed
  const base = { ts: 1_790_000_000, patient: patient.id, epochs: [1], reason: 'x' }
  t.throws(() => buildTxEmergency(erDoctor, { ...base, reason: '   ' }), /must say why/)
  t.throws(() => buildTxEmergency(erDoctor, { ...base, reason: 'x'.repeat(MAX_REASON_BYTES + 1) }), /reason/)
  t.throws(() => buildTxEmergency(erDoctor, { ...base, epochs: [] }), /at least one epoch/)
  t.throws(() => signBody(txEmergencyCodec, { kind: 'emergency', doctor: erDoctor.id, ts: 1, patient: patient.id, epochs: [3, 2], reason: 'x' } as Omit<TxEmergency, 'sig'>, erDoctor.signing), /ascending/)
  t.equal((await w.docchain()).length, 0, 'nothing reached Docchain')
})
