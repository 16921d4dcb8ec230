/**
 * The patient's emergency-access choice (app/emergency.ts): the config's
 * default until the patient changes it, the choice kept across a restart,
 * a change renewing the IoT key, the escrow policy t = 2f+1 of the
 * accounting nodes the registry publishes (none when opted out), and the
 * accesses shown being this patient's only.
 */
import t from 'tap'
import { buildIdentityRecord, buildTxEmergency, encodeIdentityRecord, toHex } from '../../hub/src/core/index.ts'
import { DoctorRegistry } from '../../hub/src/core/pbft/registry.ts'
import { escrowThreshold, openEmergency } from '../../hub/src/app/emergency.ts'
import { who, TS } from '../helpers/core.ts'

const patient = who('optin-patient')
const other = who('optin-other')
const er = who('optin-er')
const consortium = who('optin-consortium')
const members = [0, 1, 2, 3].map((i) => who(`optin-member-${i}`))
const rec = (x: typeof er): Uint8Array => encodeIdentityRecord(buildIdentityRecord(x, TS))

t.test('t = 2f+1 of n accounting nodes', async (t) => {
  t.same([1, 2, 3, 4, 5, 7, 10].map(escrowThreshold), [null, 2, 2, 3, 3, 5, 7])
})

t.test('opt-in: the config until the patient chooses; a change renews the key; the policy and the accesses', async (t) => {
  const dir = t.testdir({})
  const registry = new DoctorRegistry({ members: [consortium.id], threshold: 1 }, [rec(er)], { emergency: [er.id], accounting: members.map(rec) })
  for (const [who, epochs] of [[patient, [1, 2]], [other, [1]]] as const) {
    const req = buildTxEmergency(er, { ts: TS, patient: who.id, epochs: [...epochs], reason: 'found unconscious' })
    registry.applyTx(req, TS + 3)
  }
  const rotations: number[] = []
  const open = async (optIn: boolean): Promise<Awaited<ReturnType<typeof openEmergency>>> => await openEmergency({
    dataDir: dir, user: patient, optIn, registry: () => registry, rotate: async () => { rotations.push(rotations.length + 5); return { epoch: rotations.at(-1)!, tx: 'ab'.repeat(32) } }
  })
  const a = await open(false)
  t.equal(a.policy(), null, 'opted out: no escrow')
  const s = await a.service.status()
  t.match(s, { optIn: false, threshold: 3, members: 4 })
  t.same(s.accesses.map((x) => [x.doctor, x.epochs, x.reason, x.committed]), [[toHex(er.id), [1, 2], 'found unconscious', TS + 3]], 'only this patient\'s access, with who, which epochs, why and when')
  const on = await a.service.setOptIn(true)
  t.match(on, { optIn: true, epoch: 5 }, 'opting in renews the key')
  t.same(a.policy()?.threshold, 3)
  t.same(a.policy()?.members.map((m) => toHex(m.id)).sort(), members.map((m) => toHex(m.id)).sort(), 'escrowed to the published accounting nodes')
  t.equal((await a.service.setOptIn(true)).epoch, undefined, 'no change, no renewal')
  const b = await open(false)
  t.equal((await b.service.status()).optIn, true, 'the patient\'s choice wins over the config after a restart')
})
