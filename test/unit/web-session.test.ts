/**
 * Pure parts of the web pages (issue #13): signed session cookies, idle
 * expiry and bounded memory; the login limiter's window; HTML escaping;
 * Vega-Lite vitals charts for each sensor kind.
 */
import t from 'tap'
import { csrfMatches, readCookie, sessionCookie, SessionStore } from '../../hub/src/web/session.ts'
import { html, raw } from '../../hub/src/web/html.ts'
import { valueText, vitalsCharts } from '../../hub/src/web/charts.ts'

t.test('sessions: signed cookie, idle expiry, login replaces the ID, bounded', async (t) => {
  let now = 0
  const store = new SessionStore({ now: () => now, idleMs: 1000, max: 3 })
  const a = store.create()
  const cookie = store.cookieValue(a)
  t.equal(store.fromCookie(cookie), a)
  t.equal(new SessionStore().fromCookie(cookie), undefined, 'another server secret: no session')
  t.equal(store.fromCookie(`${a.id}.${'A'.repeat(43)}`), undefined, 'bad signature')
  t.equal(store.fromCookie(a.id), undefined, 'no signature')
  t.equal(store.fromCookie(undefined), undefined)
  const b = store.login(a, 'admin')
  t.not(b.id, a.id)
  t.not(b.csrf, a.csrf)
  t.equal(store.fromCookie(cookie), undefined, 'the pre-login session is gone')
  t.equal(store.fromCookie(store.cookieValue(b))?.user, 'admin')
  now += 999
  t.ok(store.fromCookie(store.cookieValue(b)), 'seen within the idle time')
  now += 1001
  t.equal(store.fromCookie(store.cookieValue(b)), undefined, 'idle too long')
  const owner = store.create('admin')
  const many = [store.create(), store.create(), store.create(), store.create()]
  t.equal(store.size, 3, 'at most max sessions')
  t.ok(store.fromCookie(store.cookieValue(owner)), 'anonymous sessions go first: a logged-in owner stays')
  t.equal(store.fromCookie(store.cookieValue(many[0]!)), undefined, 'the least recently seen anonymous one went')
  const others = [store.create('a'), store.create('b'), store.create('c')]
  t.equal(store.fromCookie(store.cookieValue(owner)), undefined, 'with only logged-in sessions, the least recently seen goes')
  t.ok(store.fromCookie(store.cookieValue(others[2]!)))
  t.ok(csrfMatches(many[3]!, many[3]!.csrf))
  t.notOk(csrfMatches(many[3]!, many[2]!.csrf))
  t.notOk(csrfMatches(many[3]!, undefined))
  t.notOk(csrfMatches(many[3]!, ['x']))
})

t.test('cookie header helpers', async (t) => {
  t.equal(readCookie('a=1; hc_session=abc.def; b=2', 'hc_session'), 'abc.def')
  t.equal(readCookie('a=1', 'hc_session'), undefined)
  t.equal(sessionCookie('v', { path: '/web', secure: true }), 'hc_session=v; Path=/web; HttpOnly; SameSite=Strict; Secure')
  t.match(sessionCookie('v', { path: '/', secure: false, clear: true }), /^hc_session=; Path=\/; HttpOnly; SameSite=Strict; Max-Age=0$/)
})

t.test('absolute lifetime: a session kept busy still ends 12 h after it began', async (t) => {
  let now = 0
  const store = new SessionStore({ now: () => now, idleMs: 3600_000, absoluteMs: 4 * 3600_000 })
  const s = store.login(undefined, 'admin')
  const cookie = store.cookieValue(s)
  let alive = 0
  for (let i = 0; i < 4 * 6; i++) { now += 600_000; if (store.fromCookie(cookie) !== undefined) alive++ }
  t.equal(alive, 24, 'refreshed every 10 minutes it stays for its 4 h')
  now += 600_000
  t.equal(store.fromCookie(cookie), undefined, 'and ends at its absolute lifetime, however busy')
  now += 1
  const d = new SessionStore({ now: () => now })
  const x = d.login(undefined, 'admin')
  now += 2 * 3600_000 + 1
  t.equal(d.fromCookie(d.cookieValue(x)), undefined, 'by default 2 h idle ends a session')
  const y = d.login(undefined, 'admin')
  for (let i = 0; i < 13; i++) { now += 3600_000; if (i < 11) t.ok(d.fromCookie(d.cookieValue(y)) !== undefined, `busy after ${i + 1} h: alive`) }
  t.equal(d.fromCookie(d.cookieValue(y)), undefined, 'and 12 h is the default absolute lifetime')
})

t.test('html escapes values, not nested html', async (t) => {
  const name = '<script>alert("x")</script>'
  const inner = html`<b>${name}</b>`
  t.equal(html`<p title="${'a"b'}">${inner}${raw('<i>ok</i>')}${[1, 'x&y']}${undefined}${null}${false}</p>`.text,
    '<p title="a&quot;b"><b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</b><i>ok</i>1x&amp;y</p>')
})

t.test('vitals charts: one SVG per device and sensor, bp with two series, ECG strip, falls as text', async (t) => {
  const at = 1_790_000_000_000
  const charts = await vitalsCharts([
    ...[0, 1, 2].map((i) => ({ device: 'ox-1', type: 'spo2', value: 95 + i, unit: '%', at: at + i * 1000 })),
    ...[0, 1].map((i) => ({ device: 'cuff', type: 'bp', value: [120 + i, 80 - i], unit: 'mm[Hg]', at: at + i * 1000 })),
    { device: 'ecg-1', type: 'ecg', value: [0.1, 0.9, 0.2, 0.1], unit: 'mV', at },
    { device: 'imu', type: 'fall', value: 1, unit: '1', at }
  ])
  t.same(charts.map((c) => `${c.device}/${c.type}`), ['cuff/bp', 'ecg-1/ecg', 'ox-1/spo2'])
  for (const c of charts) t.match(c.svg, /^<svg[^>]*viewBox=/)
  t.equal(charts[0]!.latest, '121/79 mmHg')
  t.match(charts[0]!.svg, /systolic/)
  t.match(charts[0]!.svg, /diastolic/)
  t.equal(charts[2]!.latest, '97 %', 'printed by the one units module')
  const line = (svg: string): string => /class="mark-line role-mark[^"]*"[^>]*>\s*<path[^>]* d="([^"]+)"/.exec(svg)?.[1] ?? ''
  const [gap] = await vitalsCharts([0, 1, 2, 300, 301, 302].map((sec) => ({ device: 'ox-1', type: 'hr', value: 70 + sec % 3, unit: '/min', at: at + sec * 1000 })))
  const [nogap] = await vitalsCharts([0, 1, 2, 3, 4, 5].map((sec) => ({ device: 'ox-1', type: 'hr', value: 70 + sec % 3, unit: '/min', at: at + sec * 1000 })))
  t.equal(line(nogap!.svg).match(/M/g)?.length, 1, 'one unbroken line')
  t.equal(line(gap!.svg).match(/M/g)?.length, 2, 'five minutes without readings break the line')
  t.equal(valueText({ type: 'temp', value: 37.2, unit: 'Cel' }), '37.2 °C')
  t.equal(valueText({ type: 'fall', value: 1, unit: '1' }), 'fall detected')
})
