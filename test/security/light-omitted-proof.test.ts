/**
 * A core node leaves out one of the user's transactions when a light hub
 * asks (paper §III-A): the light node cross-checks every core node it is
 * connected to, so what one proves on the shared best chain another may not
 * omit — caught on the first check (another core node proves it), and on
 * a later one (the light node proved it before). The omitter is banned and
 * hung up; the transaction stays proven.
 */
import t from 'tap'
import { OmittedTxError } from '../../hub/src/net/errors.ts'
import { droppedLiar, liarSetup } from '../helpers/light-liar.ts'

t.test('a light hub drops a core node that omits one of its transactions', async (t) => {
  const s = await liarSetup(t)
  // omitting from the very first answer: the honest node's proof gives it away
  s.mode = 'omit'
  const caught: string[] = []
  s.light.on('liar', (l: { peer: string, error: Error }) => { if (l.error instanceof OmittedTxError) caught.push(l.peer) })
  await s.light.refresh()
  t.same(caught, [s.liarId.toString()], 'the omitter is named on the first check')
  const first = await droppedLiar(s.light, s.honestId, s.liarId)
  t.ok(first.banned, 'and banned')
  t.same(first.connected, [s.honestId.toString()], 'the honest core node is kept')
  t.equal(s.light.node.confirmed.size, 5, 'all 5 of alice\'s transactions proven')

  // honest at first, then omitting what this light node already holds proven
  s.mode = 'honest'
  const { light, honestId, liarId } = await s.newLight()
  await light.node.myTransactions(liarId)
  t.equal(light.node.confirmed.size, 5, 'proven by the liar while it told the truth')
  s.mode = 'omit'
  const err = await light.node.myTransactions(liarId).then(() => null, (e: unknown) => e)
  t.ok(err instanceof OmittedTxError, `a later omission: ${(err as Error | null)?.message ?? 'not detected'}`)
  const later = await droppedLiar(light, honestId, liarId)
  t.ok(later.banned, 'banned')
  t.equal(light.node.confirmed.size, 5, 'nothing of alice\'s is lost')
})
