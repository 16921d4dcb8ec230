/**
 * Scheduled IoT-key rotation (paper §IV-B5 periodic update,
 * roles/user/rotation.ts): the scheduler publishes a fresh tx_key to a real
 * core node only once a rotation is due, one at a time, reports a refusal
 * instead of failing, and stops with its timer.
 */
import t from 'tap'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { equalBytes, type TxKey } from '../../hub/src/core/index.ts'
import { CoreNode } from '../../hub/src/roles/core/node.ts'
import { UserKeys } from '../../hub/src/roles/user/keys.ts'
import { keyHistory } from '../../hub/src/roles/user/chain.ts'
import { scheduleRotation, type Timers } from '../../hub/src/roles/user/rotation.ts'
import { who } from '../helpers/core.ts'
import { NOW, TESTNET, tempDir } from '../helpers/userchain.ts'

const user = who('rotation-user')
const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))

/** Timers a test fires by hand. */
function manualTimers (): Timers & { fire: () => void, armed: () => number, every: number | null } {
  const fns = new Map<number, () => void>()
  let next = 1
  const tm = {
    every: null as number | null,
    setInterval: (fn: () => void, ms: number): unknown => { tm.every = ms; fns.set(next, fn); return next++ },
    clearInterval: (h: unknown): void => { fns.delete(h as number) },
    fire: (): void => { for (const fn of fns.values()) fn() },
    armed: (): number => fns.size
  }
  return tm
}

t.test('rotates through the core node once due, one at a time, and stops', async (t) => {
  const dir = await tempDir(t, 'rot')
  const clock = { t: NOW }
  const core = await CoreNode.open({ dir: join(dir, 'uc'), params: TESTNET, verifyThreads: 1, now: () => clock.t })
  t.teardown(async () => { await core.close() })
  const keys = new UserKeys(user, { rng, now: () => clock.t, directory: { lookup: () => undefined }, rotationSeconds: 600 })
  const publish = async (tx: TxKey): Promise<void> => { const r = await core.submitTx(tx); if (!r.accepted) throw new Error(r.reason) }
  await publish(keys.init())
  const lines: string[] = []
  const timers = manualTimers()
  const rotation = scheduleRotation({ keys, publish, checkEveryMs: 30_000, log: (l) => { lines.push(l) }, timers })
  t.equal(timers.every, 30_000, 'checks on the given period')
  t.same(keys.renewal(), { since: NOW, due: NOW + 600 }, 'renewed at the first tx_key, due one period later')

  clock.t = NOW + 599
  t.equal(await rotation.check(), false, 'not due yet')
  t.equal(keys.current!.epoch, 1)

  clock.t = NOW + 600
  const before = keys.current!.ik
  const [a, b] = await Promise.all([rotation.check(), rotation.check()])
  t.same([a, b], [true, false], 'a second check while one is in flight does nothing')
  t.equal(keys.current!.epoch, 2, 'one fresh epoch')
  t.notOk(equalBytes(keys.current!.ik, before), 'with a fresh IoT key')
  t.same(keys.renewal(), { since: NOW + 600, due: NOW + 1200 }, 'the next renewal one period after this one')
  const onNode = await keyHistory(core.store, core.mempool, user.id)
  t.same(onNode.map((x) => x.epoch), [1, 2], 'the core node holds the rotation (pending): it gossips it')
  t.match(lines, [/renewed the IoT key \(epoch 2\)/])
  t.equal(await rotation.check(), false, 'not due again right after')
  // a refused rotation is withdrawn: the keys and the renewal time stay those of epoch 2
  const refusing = scheduleRotation({ keys, publish: async () => { throw new Error('refused') }, checkEveryMs: 1000, timers: manualTimers() })
  clock.t = NOW + 1200
  t.equal(await refusing.check(), false)
  refusing.stop()
  t.equal(keys.current!.epoch, 2, 'the refused epoch is withdrawn')
  t.same(keys.renewal(), { since: NOW + 600, due: NOW + 1200 }, 'renewal time as before')

  // the timer drives the same check
  clock.t = NOW + 1200
  timers.fire()
  await new Promise((resolve) => setTimeout(resolve, 50))
  for (let i = 0; i < 100 && keys.current!.epoch < 3; i++) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(keys.current!.epoch, 3, 'the timer rotated once the period passed (epoch 3 free again after the withdrawal)')
  t.same((await keyHistory(core.store, core.mempool, user.id)).map((x) => x.epoch), [1, 2, 3])

  rotation.stop()
  t.equal(timers.armed(), 0, 'stop clears the timer')
  clock.t = NOW + 1800
  t.equal(await rotation.check(), false, 'nothing after stop')
})

t.test('a tx_key the node refuses is reported, not thrown', async (t) => {
  const dir = await tempDir(t, 'rot2')
  const clock = { t: NOW }
  const core = await CoreNode.open({ dir: join(dir, 'uc'), params: TESTNET, verifyThreads: 1, now: () => clock.t })
  t.teardown(async () => { await core.close() })
  // the user's clock is hours ahead of the node's: the node refuses its tx_keys as from the future
  const keys = new UserKeys(user, { rng, now: () => clock.t + 10 * 3600, directory: { lookup: () => undefined }, rotationSeconds: 600 })
  const lines: string[] = []
  const rotation = scheduleRotation({ keys, publish: async (tx) => { const r = await core.submitTx(tx); if (!r.accepted) throw new Error(r.reason) }, checkEveryMs: 1000, log: (l) => { lines.push(l) }, timers: manualTimers() })
  t.teardown(() => { rotation.stop() })
  t.equal(await rotation.check(), false, 'no rotation published')
  t.match(lines, [/^key rotation refused: /])
  t.same(await keyHistory(core.store, core.mempool, user.id), [], 'nothing reached the node')
  t.equal(keys.current, null, 'and the user\'s keys do not move past what Userchain holds')
  t.ok(keys.rotationDue(), 'still due: the next check tries again')
})
