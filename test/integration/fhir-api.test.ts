/**
 * The FHIR R4 API (hub/src/fhir) on a hub and on a doctor daemon, with real
 * parts on loopback (test/helpers/doctor-world.ts: a devnet Userchain over
 * libp2p, a Helia storage node, four PBFT accounting nodes): the patient
 * seals a batch, the AI doctor (its own daemon, app/doctor.ts) diagnoses it
 * and Docchain commits the tx_diag; the hub's FHIR source reads the same
 * chain, IPFS and Dblocks. fhir-kit-client, as a hospital system would,
 * logs in for a bearer token, lists the patient's Observations for a date
 * range page by page, and reads a DiagnosticReport with the Observations it
 * cites. Every resource served is checked against the official FHIR R4 JSON
 * Schema. Then the patient revokes the doctor and seals a new batch: the
 * hub serves it, the doctor refuses data after the revocation (403, with
 * the reason) and a patient that never granted it. Malformed searches get
 * an OperationOutcome with 400, never a crash, also under a small fuzz run
 * (FHIR_HTTP_FUZZ_INPUTS, default 300) of mutated queries.
 */
import t from 'tap'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Client } from 'fhir-kit-client'
import { toHex, txId, type TxIoT } from '../../hub/src/core/index.ts'
import { startDoctor } from '../../hub/src/app/doctor.ts'
import { validateDoctorConfig } from '../../hub/src/config/doctor.ts'
import { cidFromDigest } from '../../hub/src/ipfs/index.ts'
import { PatientReader } from '../../hub/src/roles/user/diagnoses.ts'
import { createWebServer, patientModel } from '../../hub/src/web/index.ts'
import { createFhirRouter, hubFhirSource } from '../../hub/src/fhir/index.ts'
import { mutate, rng } from '../fuzz/engine.ts'
import { tempDir } from '../helpers/ipfs.ts'
import { aiDoctor, doctorWorld, members, patient, until } from '../helpers/doctor-world.ts'
import { fhirErrors } from '../helpers/fhir-schema.ts'

type Res = Record<string, any>

const FUZZ = Number(process.env.FHIR_HTTP_FUZZ_INPUTS ?? 300)
const me = toHex(patient.id)
const iso = (ms: number): string => new Date(ms).toISOString()

t.test('a FHIR client reads the patient\'s vitals and diagnoses on the hub and on a granted doctor node; revoked and never-granted data is refused', { timeout: 600_000 }, async (t) => {
  const dir = await tempDir(t, 'fhir-api')
  const world = await doctorWorld(t, dir)
  await world.serve()
  const from1 = Date.now() - 3_600_000
  const iot1 = await world.batch(85, from1)
  const htxI1 = toHex(txId(iot1))

  // ---- the AI doctor's daemon: analyses the batch, its tx_diag committed on Docchain ----
  const cfg = validateDoctorConfig({ ...world.cfgFile, dataDir: join(dir, 'doctor'), mode: 'ai' })
  const doctor = await startDoctor(cfg, { identity: aiDoctor, log: (l) => { t.comment(`[doctor] ${l}`) } })
  t.teardown(async () => { await doctor.stop() })
  const diag = await until('the doctor\'s tx_diag committed', async () => (await doctor.diagnoses()).find((d) => d.status === 'committed'), 120_000)
  t.same(diag.causes, [htxI1])

  // ---- the hub's FHIR source over the same chain, IPFS and Docchain (what startHub wires) ----
  const ownIoT = async (id: Uint8Array): Promise<TxIoT | undefined> => { const tx = await world.core.store.confirmedTx(id); return tx?.kind === 'iot' ? tx : undefined }
  const fetch = async (d: Uint8Array): Promise<Uint8Array> => await world.userIpfs.get(cidFromDigest(d), { providers: [world.storageAddr] })
  const reader = new PatientReader(world.keys, { ownIoT, fetch, accountingNodes: () => members.map((m) => m.id) })
  for (let h = 1; h <= world.accounting[0]!.height; h++) await reader.onDblock((await world.accounting[0]!.block(h))!)
  t.equal(reader.diagnoses.length, 1, 'the hub read its diagnosis from Docchain')
  const hub = await createWebServer({
    dataDir: join(dir, 'hub'),
    secureCookie: false,
    patient: patientModel({ keys: world.keys, reader, publishKey: async (tx) => { await world.publish(tx) }, balance: () => 0 }),
    mount: (w) => [{ path: '/fhir', router: createFhirRouter({ source: hubFhirSource({ chain: world.core, keys: world.keys, reader, fetch }), web: w, log: (l) => { t.comment(`[hub] ${l}`) } }).router }]
  })
  t.teardown(async () => { await hub.close() })
  const hubBase = `${hub.url}/fhir`
  const docBase = `${doctor.pageUrl}fhir`

  const served: Res[] = []
  const http = async (url: string, init: RequestInit = {}): Promise<{ status: number, body: Res, type: string }> => {
    const r = await fetchUrl(url, init)
    const body = JSON.parse(await r.text()) as Res
    served.push(body)
    return { status: r.status, body, type: r.headers.get('content-type') ?? '' }
  }
  const fetchUrl = globalThis.fetch

  // ---- /metadata is public; everything else needs the login ----
  for (const base of [hubBase, docBase]) {
    const cap = await http(`${base}/metadata`)
    t.equal(cap.status, 200)
    t.match(cap.type, /application\/fhir\+json/)
    t.match(cap.body, { resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', rest: [{ mode: 'server' }] })
    const anon = await http(`${base}/Observation`)
    t.equal(anon.status, 401, 'no login: 401')
    t.match(anon.body, { resourceType: 'OperationOutcome', issue: [{ code: 'login' }] })
    const wrong = await http(`${base}/Observation`, { headers: { authorization: 'Bearer not-a-token' } })
    t.equal(wrong.status, 401, 'an unknown bearer token: 401')
  }
  const token = async (base: string, login: { username: string, password: string }): Promise<string> => {
    const bad = await fetchUrl(`${base}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', username: login.username, password: 'wrong' }) })
    t.equal(bad.status, 400, 'a wrong password gets no token')
    const r = await fetchUrl(`${base}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'password', ...login }) })
    const j = await r.json() as { access_token: string, token_type: string }
    t.equal(j.token_type, 'Bearer')
    return j.access_token
  }
  const hubToken = await token(hubBase, hub.created!)
  const docToken = await token(docBase, doctor.login!)
  const hubClient = new Client({ baseUrl: hubBase, bearerToken: hubToken })
  const docClient = new Client({ baseUrl: docBase, bearerToken: docToken })

  // ---- Observations for a date range, page by page (fhir-kit-client follows the next links) ----
  const lo = from1 + 100_000 // readings i = 10 … 19 of the batch: 20 Observations (SpO2 and pulse)
  const hi = from1 + 199_999
  for (const [label, client] of [['hub', hubClient], ['doctor', docClient]] as const) {
    let bundle = await client.search({ resourceType: 'Observation', searchParams: { patient: me, date: [`ge${iso(lo)}`, `le${iso(hi)}`], _count: 8 } }) as Res
    served.push(bundle)
    t.equal(bundle.total, 20, `${label}: 20 Observations in the range`)
    const got: Res[] = []
    for (;;) {
      got.push(...bundle.entry.filter((e: Res) => e.search.mode === 'match').map((e: Res) => e.resource))
      if (!bundle.link.some((l: Res) => l.relation === 'next')) break
      bundle = await client.nextPage({ bundle: bundle as never }) as Res
      served.push(bundle)
    }
    t.equal(got.length, 20, `${label}: three pages of at most 8`)
    t.ok(got.every((o) => Date.parse(o.effectiveDateTime) >= lo && Date.parse(o.effectiveDateTime) <= hi), 'all within the range')
    t.same(got.map((o) => o.effectiveDateTime), [...got.map((o) => o.effectiveDateTime)].sort(), 'oldest first')
    t.match(got.find((o) => o.code.coding[0].code === '59408-5'), {
      status: 'final',
      subject: { reference: `Patient/${me}` },
      valueQuantity: { system: 'http://unitsofmeasure.org', code: '%' },
      device: { identifier: { system: 'urn:healthchain:device', value: 'ox-1' } },
      meta: { source: `urn:healthchain:tx-iot:${htxI1}` }
    }, 'LOINC, UCUM, the device and the tx_IoT as provenance')
    const hr = await client.search({ resourceType: 'Observation', searchParams: { code: 'http://loinc.org|8867-4', date: `ge${iso(lo)}`, _count: 1000 } }) as Res
    served.push(hr)
    t.equal(hr.total, 50, `${label}: a code and an open range: the pulse readings from i = 10 on`)
    const eb = await client.search({ resourceType: 'Observation', searchParams: { date: [`gt${iso(from1 + 590_000 - 1)}`], _count: 5 } }) as Res
    t.equal(eb.total, 2, `${label}: gt excludes the bound itself (only i = 59)`)
  }

  // ---- a DiagnosticReport with the Observations it cites ----
  for (const [label, client] of [['hub', hubClient], ['doctor', docClient]] as const) {
    const b = await client.search({ resourceType: 'DiagnosticReport', searchParams: { patient: `Patient/${me}`, _include: 'DiagnosticReport:result' } }) as Res
    served.push(b)
    const reports = b.entry.filter((e: Res) => e.search.mode === 'match').map((e: Res) => e.resource)
    const included = new Map<string, Res>(b.entry.filter((e: Res) => e.search.mode === 'include').map((e: Res) => [`Observation/${e.resource.id as string}`, e.resource]))
    t.equal(reports.length, 1, `${label}: one report`)
    const report = reports[0]
    t.equal(report.id, diag.htxd, 'its id is the tx_diag\'s htxd')
    const cited = report.result.map((r: Res) => r.reference).filter((r: string) => r.startsWith('Observation/'))
    t.equal(cited.length, 120, 'it cites the 120 readings of its cause')
    t.ok(cited.every((r: string) => included.has(r)), '_include brought each cited Observation')
    const read = await client.read({ resourceType: 'DiagnosticReport', id: report.id }) as Res
    served.push(read)
    t.same(read.result, report.result, 'read by id: the same report')
    const one = await client.resolve({ reference: cited[0] }) as Res
    served.push(one)
    t.same(one, included.get(cited[0]), 'a cited reference resolves to the same Observation')
  }

  // ---- Patient/$everything for a range: the export Bundle ----
  const all = await http(`${hubBase}/Patient/${me}/$everything?start=${encodeURIComponent(iso(from1))}&end=${encodeURIComponent(iso(from1 + 3_600_000))}`, { headers: { authorization: `Bearer ${hubToken}` } })
  t.equal(all.status, 200)
  t.same(all.body.entry.map((e: Res) => e.resource.resourceType).reduce((m: Res, x: string) => ({ ...m, [x]: (m[x] ?? 0) + 1 }), {}), { Patient: 1, Observation: 120, DiagnosticReport: 1 }, 'the patient, its readings and its report')

  // ---- revocation: nothing sealed after it reaches the doctor ----
  await world.publish(world.keys.revoke(aiDoctor.id))
  const revokedAt = world.keys.current!.ts * 1000
  await until('the doctor saw the revocation', async () => ((await doctor.patients()).length === 0 ? true : undefined))
  await new Promise((resolve) => setTimeout(resolve, 1100))
  const from2 = Date.now()
  const iot2 = await world.batch(84, from2)
  await until('the doctor has the new batch\'s block', async () => ((await doctor.status()).userchain.height >= world.core.store.tip.height ? true : undefined))
  const after = { patient: me, date: `ge${iso(revokedAt + 1000)}` }
  const hubAfter = await hubClient.search({ resourceType: 'Observation', searchParams: { ...after, _count: 1000 } }) as Res
  served.push(hubAfter)
  t.equal(hubAfter.total, 120, 'the hub serves its own batch sealed after the revocation')
  t.ok(hubAfter.entry.every((e: Res) => e.resource.meta.source === `urn:healthchain:tx-iot:${toHex(txId(iot2))}`))
  const refused = await http(`${docBase}/Observation?${new URLSearchParams(after).toString()}`, { headers: { authorization: `Bearer ${docToken}` } })
  t.equal(refused.status, 403, 'the doctor refuses data after its revocation')
  t.match(refused.body, { resourceType: 'OperationOutcome', issue: [{ code: 'forbidden', diagnostics: /revoked/ }] })
  const docAll = await docClient.search({ resourceType: 'Observation', searchParams: { patient: me, _count: 1000 } }) as Res
  served.push(docAll)
  t.equal(docAll.total, 120, 'a search reaching back is served only what was granted')
  t.ok(docAll.entry.filter((e: Res) => e.search.mode === 'match').every((e: Res) => e.resource.meta.source === `urn:healthchain:tx-iot:${htxI1}`))
  t.match(docAll.entry.find((e: Res) => e.search.mode === 'outcome')?.resource, { resourceType: 'OperationOutcome', issue: [{ code: 'suppressed', diagnostics: /revoked by key epoch/ }] }, 'and told why the rest is missing')
  const docEverything = await http(`${docBase}/Patient/${me}/$everything?start=${encodeURIComponent(iso(revokedAt + 1000))}`, { headers: { authorization: `Bearer ${docToken}` } })
  t.equal(docEverything.status, 403, 'nor as an export')

  // ---- a patient that never granted this doctor ----
  const stranger = toHex(randomBytes(32))
  for (const path of [`Patient/${stranger}`, `Observation?patient=${stranger}`, `DiagnosticReport?subject=Patient/${stranger}`, `Patient/${stranger}/$everything`]) {
    const r = await http(`${docBase}/${path}`, { headers: { authorization: `Bearer ${docToken}` } })
    t.equal(r.status, 403, `doctor ${path.split('?')[0]!.split('/')[0]}: 403`)
    t.match(r.body, { resourceType: 'OperationOutcome', issue: [{ code: 'forbidden', diagnostics: /never granted/ }] })
  }
  t.equal((await http(`${hubBase}/Patient/${stranger}`, { headers: { authorization: `Bearer ${hubToken}` } })).status, 404, 'the hub knows only its user')

  // ---- malformed searches: an OperationOutcome with 400 ----
  const auth = { headers: { authorization: `Bearer ${hubToken}` } }
  for (const q of ['date=2026-13-01', 'date=ap2026', 'date=xx2026', 'date=2026-02-30', 'date=2026-01-01T25:00Z', '_count=-1', '_count=ten', '_sort=value', 'code=a|b|c', 'patient=Patient/xyz', '_include=Observation:device', 'date[a]=b', '_offset=1e3', `date=${'9'.repeat(300)}`]) {
    const r = await http(`${hubBase}/Observation?${q}`, auth)
    t.equal(r.status, 400, `${q.slice(0, 40)}: 400`)
    t.equal(r.body.resourceType, 'OperationOutcome')
  }
  const strict = await http(`${hubBase}/Observation?foo=1`, { headers: { ...auth.headers, prefer: 'handling=strict' } })
  t.equal(strict.status, 400, 'an unknown parameter with Prefer: handling=strict: 400')
  const lenient = await http(`${hubBase}/Observation?foo=1&_count=0`, auth)
  t.equal(lenient.status, 200, 'without it: ignored')
  t.match(lenient.body.entry.at(-1).resource, { resourceType: 'OperationOutcome', issue: [{ code: 'not-supported', expression: ['foo'] }] }, 'and said so')
  t.equal((await http(`${hubBase}/Observation/..%2F..%2Fetc`, auth)).status, 404)
  t.equal((await http(`${hubBase}/Observation`, { ...auth, method: 'DELETE' })).status, 405, 'read-only')

  // a small fuzz run over mutated queries: never a 5xx, always FHIR JSON
  const seeds = ['patient=' + me + '&date=ge2026-01-01&date=le2027-01-01T10:00:00Z&_count=5', 'code=http://loinc.org|8867-4,|59408-5&_sort=-date&_offset=3', '_include=DiagnosticReport:result&subject=Patient/' + me].map((s) => new TextEncoder().encode(s))
  const r = rng(37)
  const paths = ['Observation', 'DiagnosticReport', 'Patient', `Patient/${me}/$everything`]
  const statuses = new Map<number, number>()
  for (let i = 0; i < FUZZ; i++) {
    const q = Buffer.from(mutate(r, seeds, 200)).toString('latin1')
    const path = paths[i % paths.length]!
    const res = await fetchUrl(`${hubBase}/${path}?${encodeURI(q).replace(/#/g, '%23')}`, auth).catch((err: Error) => ({ status: -1, text: async () => err.message, headers: new Headers() }))
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
    const text = await res.text()
    if (res.status < 200 || res.status >= 500) { t.fail(`fuzz ${path}?${q}: ${res.status} ${text.slice(0, 200)}`); break }
    const body = JSON.parse(text) as Res
    if (res.status >= 400 && body.resourceType !== 'OperationOutcome') { t.fail(`fuzz ${path}?${q}: ${res.status} without an OperationOutcome`); break }
  }
  t.comment(`fuzz: ${FUZZ} mutated queries, statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.notOk(statuses.has(500), 'no mutated query crashed the server')

  // ---- every resource served validates against the FHIR R4 JSON Schema ----
  const resources: Res[] = []
  for (const b of served) {
    resources.push(b)
    if (b.resourceType === 'Bundle') for (const e of b.entry ?? []) resources.push(e.resource)
  }
  const bad = resources.map((x) => ({ type: x.resourceType as string, errors: fhirErrors(x) })).filter((x) => x.errors.length > 0)
  t.same(bad.slice(0, 3), [], `all ${resources.length} resources served validate (${[...new Set(resources.map((x) => x.resourceType as string))].join(', ')})`)
})
