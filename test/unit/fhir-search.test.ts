/**
 * FHIR search parameters (hub/src/fhir/search.ts): the date ranges a value's
 * precision implies, the R4 prefix table, tokens, references, paging, and
 * that malformed queries are clean 400s — also under the repo's fuzz engine
 * (FHIR_FUZZ_INPUTS, default 5,000 per resource type of mutated query strings, parsed by qs as
 * express parses them). And the token endpoint: guessing the password for
 * a bearer token is throttled like the login form.
 */
import t from 'tap'
import { join } from 'node:path'
import qs from 'qs'
import { dateMatches, dateRange, FhirError, parseEverything, parseSearch, type DateTest } from '../../hub/src/fhir/index.ts'
import { fuzz } from '../fuzz/engine.ts'

const U = Date.UTC
const ME = 'ab'.repeat(32)

t.test('a date value is the range its precision implies', async (t) => {
  t.same(dateRange('date', '2026'), { lo: U(2026, 0, 1), hi: U(2027, 0, 1) - 1 })
  t.same(dateRange('date', '2026-02'), { lo: U(2026, 1, 1), hi: U(2026, 2, 1) - 1 }, 'a month (28 days in 2026)')
  t.same(dateRange('date', '2024-02-29'), { lo: U(2024, 1, 29), hi: U(2024, 2, 1) - 1 }, 'a leap day')
  t.same(dateRange('date', '2026-12-07T10:00+01:00'), { lo: U(2026, 11, 7, 9), hi: U(2026, 11, 7, 9, 1) - 1 }, 'a minute, in its zone')
  t.same(dateRange('date', '2026-12-07T10:00:05Z'), { lo: U(2026, 11, 7, 10, 0, 5), hi: U(2026, 11, 7, 10, 0, 6) - 1 }, 'a second')
  t.same(dateRange('date', '2026-12-07T10:00:05.25Z'), { lo: U(2026, 11, 7, 10, 0, 5, 250), hi: U(2026, 11, 7, 10, 0, 5, 250) }, 'a millisecond')
  t.same(dateRange('date', '2026-12-07T10:00:05'), { lo: U(2026, 11, 7, 10, 0, 5), hi: U(2026, 11, 7, 10, 0, 6) - 1 }, 'no zone: UTC')
  for (const bad of ['2026-02-29', '2026-13', '2026-00-10', '2026-12-32', '2026-12-07T24:00Z', '2026-12-07T10:60Z', '26-12-07', '2026-12-07T10Z', '2026-12-07 10:00', '2026-12-07T10:00+15:00', '']) {
    t.throws(() => dateRange('date', bad), { code: 'ERR_FHIR_BAD_SEARCH', status: 400 }, `"${bad}" is refused`)
  }
})

t.test('the R4 prefix table, for instants and for periods', async (t) => {
  const day = (prefix: DateTest['prefix']): DateTest => ({ prefix, ...dateRange('date', '2026-12-07'), text: '' })
  const inDay = U(2026, 11, 7, 12)
  const before = U(2026, 11, 6, 23, 59, 59, 999)
  const after = U(2026, 11, 8)
  const table: Array<[DateTest['prefix'], boolean, boolean, boolean]> = [
    // prefix, before the day, in it, after it
    ['eq', false, true, false],
    ['ne', true, false, true],
    ['gt', false, false, true],
    ['ge', false, true, true],
    ['lt', true, false, false],
    ['le', true, true, false],
    ['sa', false, false, true],
    ['eb', true, false, false]
  ]
  for (const [p, b, i, a] of table) {
    t.same([dateMatches(day(p), before, before), dateMatches(day(p), inDay, inDay), dateMatches(day(p), after, after)], [b, i, a], `${p}: before, in, after`)
  }
  // a period straddling the day's end: not eq; gt and ge (it reaches past); not sa (it starts inside)
  const lo = U(2026, 11, 7, 23)
  const hi = U(2026, 11, 8, 1)
  t.same(['eq', 'gt', 'ge', 'lt', 'le', 'sa', 'eb'].map((p) => dateMatches(day(p as DateTest['prefix']), lo, hi)), [false, true, true, false, false, false, false])
})

t.test('parsing a search', async (t) => {
  const s = parseSearch('Observation', { patient: `Patient/${ME}`, code: 'http://loinc.org|8867-4,|x,y', date: ['ge2026-12-01', 'lt2026-12-08'], _count: '5000', _offset: '10', _sort: '-date' })
  t.match(s, { patient: ME, count: 1000, offset: 10, sort: '-date', ignored: [] })
  t.same(s.codes, [{ system: 'http://loinc.org', code: '8867-4' }, { system: '', code: 'x' }, { code: 'y' }])
  t.same(s.dates.map((d) => d.prefix), ['ge', 'lt'])
  t.same(parseSearch('Observation', { foo: 'bar' }).ignored, ['foo'], 'unknown parameters are ignored and listed')
  t.throws(() => parseSearch('Observation', { foo: 'bar' }, { strict: true }), { code: 'ERR_FHIR_UNKNOWN_PARAM', status: 400 }, '…unless handling=strict')
  t.match(parseSearch('DiagnosticReport', { _include: ['DiagnosticReport:result', 'DiagnosticReport:subject'] }).include, ['result', 'subject'])
  const bad: Array<[string, Record<string, unknown>]> = [
    ['_count negative', { _count: '-1' }], ['_count not a number', { _count: '1e3' }], ['_offset twice', { _offset: ['1', '2'] }],
    ['a nested value', { date: { a: 'b' } }], ['a prefix ap', { date: 'ap2026' }], ['an unknown prefix', { date: 'xx2026' }],
    ['a bad sort', { _sort: 'value' }], ['a token with two bars', { code: 'a|b|c' }], ['an empty token', { code: '|' }],
    ['a reference to no patient', { patient: 'Patient/1' }], ['patient and subject differ', { patient: ME, subject: 'cd'.repeat(32) }],
    ['an include of another type', { _include: 'DiagnosticReport:result' }], ['a long value', { code: 'x'.repeat(300) }],
    ['too many values', { date: Array.from({ length: 70 }, () => '2026') }], ['a bad _id', { _id: 'a/b' }]
  ]
  for (const [what, q] of bad) t.throws(() => parseSearch('Observation', q), { code: 'ERR_FHIR_BAD_SEARCH', status: 400 }, what)
  t.match(parseEverything({ start: '2026-12-01', end: '2026-12-07' }), { dates: [{ prefix: 'ge', lo: U(2026, 11, 1) }, { prefix: 'le', hi: U(2026, 11, 8) - 1 }], count: undefined })
  t.throws(() => parseEverything({ start: '2026-12-07', end: '2026-12-01' }), { code: 'ERR_FHIR_BAD_SEARCH', status: 400 }, 'end before start')
})

t.test('fuzzed query strings are parsed or refused cleanly, never a crash', async (t) => {
  const n = Number(process.env.FHIR_FUZZ_INPUTS ?? 5000)
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
  for (const type of ['Observation', 'DiagnosticReport', 'Patient'] as const) {
    const stats = fuzz({
      name: `fhir-search-${type}`,
      seeds: () => [enc(`patient=Patient/${ME}&date=ge2026-12-01T10:00:00.123%2B01:00&date=lt2027&_count=10`), enc('code=http://loinc.org|8867-4,|x&_sort=-date&_offset=3&_include=DiagnosticReport:result'), enc('_id=a,b.c&subject=' + ME + '&date[x]=1&a[]=2')],
      run: (b) => { parseSearch(type, qs.parse(Buffer.from(b).toString('latin1')) as Record<string, unknown>) },
      clean: (err) => err instanceof FhirError && err.status === 400,
      maxBytes: 600
    }, n, 37)
    t.equal(stats.crashed, 0, `${type}: ${stats.inputs} inputs, ${stats.accepted} parsed, ${stats.rejected} refused with 400, ${stats.crashed} crashed ${JSON.stringify(stats.crashes.slice(0, 1))}`)
  }
})

t.test('guessing the login for a bearer token is throttled like the login form', async (t) => {
  const { mkdtemp, rm } = await import('node:fs/promises')
  const { tmpdir } = await import('node:os')
  const { createWebServer } = await import('../../hub/src/web/index.ts')
  const { createFhirRouter } = await import('../../hub/src/fhir/index.ts')
  const dir = await mkdtemp(join(tmpdir(), 'fhir-token-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const empty = { kind: 'hub' as const, patients: async () => [], access: async () => ({ ok: true as const }), batches: async () => [], open: async () => new Uint8Array(), diagnoses: async () => [] }
  const server = await createWebServer({
    dataDir: dir,
    secureCookie: false,
    scrypt: { N: 1024, r: 8, p: 1 },
    doctor: { page: async () => { throw new Error('unused') }, sign: async () => '', report: async () => undefined },
    mount: (w) => [{ path: '/fhir', router: createFhirRouter({ source: empty, web: w, rateLimit: { max: 3 } }).router }]
  })
  t.teardown(async () => { await server.close() })
  const post = async (password: string): Promise<number> => (await fetch(`${server.url}/fhir/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: server.created!.username, password }) })).status
  t.same([await post('a'), await post('b'), await post('c')], [400, 400, 400], 'three wrong guesses')
  t.equal(await post(server.created!.password), 429, 'the fourth try is refused before the password is checked, even the right one')
  const page = await fetch(`${server.url}/fhir/Patient`, { headers: { cookie: 'hc_session=forged.value' } })
  t.equal(page.status, 401, 'a forged session cookie reads nothing')
})
