/**
 * Every daemon's config: one zod schema validates it, refuses a bad one
 * naming the field, and generates the JSON Schema shipped in hub/schemas/
 * (checked here with ajv, as an editor would use it). In-process: no daemon
 * is started.
 */
import t, { type Test } from 'tap'
import { readFile } from 'node:fs/promises'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { generateSchemas, SCHEMA_DIR } from '../../hub/src/config/json-schemas.ts'
import { validateHubConfig } from '../../hub/src/hub-config.ts'
import { validateAccountingConfig } from '../../hub/src/roles/accounting/config.ts'
import { validateStorageConfig } from '../../hub/src/config/storage.ts'
import { validateDoctorConfig } from '../../hub/src/config/doctor.ts'
import { buildIdentityRecord, encodeIdentityRecord, identityFromSeed } from '../../hub/src/core/index.ts'
import { toHex } from '../../hub/src/core/codec.ts'

const example = async (name: string): Promise<Record<string, unknown>> =>
  JSON.parse(await readFile(new URL(`../../hub/${name}.example.json`, import.meta.url), 'utf8')) as Record<string, unknown>

t.test('the committed JSON Schemas are the ones the zod schemas generate (run `npm run schemas`)', async (t) => {
  for (const [file, text] of Object.entries(generateSchemas())) {
    t.equal(await readFile(SCHEMA_DIR + file, 'utf8'), text, file)
  }
})

t.test('the example configs pass both the validator and their JSON Schema', async (t) => {
  const ajv = new Ajv2020({ strict: false })
  for (const [role, validate] of [['hub', validateHubConfig], ['accounting', validateAccountingConfig], ['storage', validateStorageConfig], ['doctor', validateDoctorConfig]] as const) {
    const ex = await example(role)
    t.doesNotThrow(() => validate(ex, '/etc/healthchain'), `${role}.example.json is valid`)
    const check = ajv.compile(JSON.parse(await readFile(SCHEMA_DIR + `${role}.schema.json`, 'utf8')) as object)
    t.ok(check(ex), `${role}.example.json matches ${role}.schema.json ${JSON.stringify(check.errors)}`)
    t.notOk(check({ ...ex, nope: 1 }), `the JSON Schema refuses an unknown ${role} setting, as the validator does`)
    t.throws(() => validate({ ...ex, nope: 1 }), /^nope: unknown setting \(have: dataDir, network/, `${role}: an unknown setting is named with the known ones`)
  }
})

/** Each case: a change to the example, and the field the refusal must name. */
function refusals (t: Test, role: string, validate: (j: unknown, base?: string) => unknown, base: Record<string, unknown>, cases: Array<[Record<string, unknown>, RegExp]>): void {
  for (const [change, re] of cases) {
    const cfg = { ...base, ...change }
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete cfg[k]
    t.throws(() => validate(cfg), re, `${role}: ${JSON.stringify(change).slice(0, 70)}`)
  }
}

t.test('bad hub configs are refused naming the field', async (t) => {
  refusals(t, 'hub', validateHubConfig, await example('hub'), [
    [{ dataDir: undefined }, /^dataDir: must be a non-empty string/],
    [{ dataDir: '' }, /^dataDir: must be a non-empty string/],
    [{ network: 'testnet' }, /^network: must be one of/],
    [{ hubId: 'Hub One' }, /^hubId: must match/],
    [{ mine: 'yes' }, /^mine: must be true or false/],
    [{ threads: 0 }, /^threads: must be an integer in \[1, 256\]/],
    [{ storageNodes: ['/ip4/10.0.0.1/tcp/1'] }, /^storageNodes\[0\]: must be a multiaddr ending in \/p2p/],
    [{ replication: 3 }, /^storageNodes: 1 given, replication 3/],
    [{ keyRotationDays: -1 }, /^keyRotationDays: must be an integer in \[0, 3650\]/],
    [{ keyRotationDays: 1.5 }, /^keyRotationDays: must be an integer/],
    [{ broker: { url: 'http://x' } }, /^broker\.url: must start with mqtt/],
    [{ broker: {} }, /^broker: must be \{"embedded"/],
    [{ broker: { embedded: { port: 65536 } } }, /^broker\.embedded\.port: must be an integer in \[0, 65535\]/],
    [{ serial: [{ baudRate: 9600 }] }, /^serial\[0\]\.path: must be a non-empty string/],
    [{ serial: [{ path: '/dev/x', device: 'th-1', baud: 9600 }] }, /^serial\[0\]\.baud: unknown setting \(have: path, device, baudRate\)/],
    [{ http: { port: 70000 } }, /^http\.port: must be an integer/],
    [{ listen: '/ip4/0.0.0.0/tcp/1' }, /^listen: must be a list of multiaddrs/],
    [{ docchain: { members: [] } }, /^docchain\.members: must be a non-empty list of \{"id", "addr"\} in leader order/],
    [{ docchain: { members: [{ id: 'ab' }], registry: { members: ['ab'] } } }, /^docchain\.members\[0\]\.id: must be an ID/],
    [{ docchain: { members: [{ id: '3b'.repeat(32) }], registry: { members: ['3b'.repeat(32)] } } }, /^docchain\.members: at least one member needs an "addr"/],
    [{ docchain: { members: [{ id: '3b'.repeat(32), addr: '/ip4/10.0.0.1/tcp/1' }], registry: { members: ['3b'.repeat(32)] } } }, /^docchain\.members\[0\]\.addr: must be a multiaddr ending in \/p2p/],
    [{ docchain: { members: [{ id: '3b'.repeat(32), addr: '/ip4/10.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino' }], registry: { members: ['3b'.repeat(32)], threshold: 2 } } }, /^docchain\.registry\.threshold: must be an integer in \[1, the number of registry\.members\]/],
    [{ docchain: { members: [{ id: '3b'.repeat(32), addr: '/ip4/10.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino' }], registry: { members: ['3b'.repeat(32)], doctors: ['00'] } } }, /^docchain\.registry\.doctors\[0\]: not an identity record/],
    [{ docchain: { members: [{ id: '3b'.repeat(32), addr: '/ip4/10.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino' }], registry: { members: ['3b'.repeat(32)] }, pollSeconds: -1 } }, /^docchain\.pollSeconds: must be an integer/],
    [{ consortium: 'the consortium' }, /^consortium: must be an ID/]
  ])
  t.throws(() => validateHubConfig([]), /^config: must be a JSON object/)
})

t.test('bad accounting configs are refused naming the field', async (t) => {
  const ex = await example('accounting')
  const members = ex.members as Array<{ id: string, addr: string }>
  const registry = ex.registry as Record<string, unknown>
  const doctor = toHex(encodeIdentityRecord(buildIdentityRecord(identityFromSeed(new Uint8Array(32).fill(7)), 1_700_000_000)))
  t.doesNotThrow(() => validateAccountingConfig({ ...ex, registry: { ...registry, doctors: [doctor] } }), 'a real identity record is accepted')
  refusals(t, 'accounting', validateAccountingConfig, ex, [
    [{ members: [] }, /^members: must be a non-empty list/],
    [{ members: [{ id: 'abc' }] }, /^members\[0\]\.id: must be an ID: 64 hex digits/],
    [{ members: [members[0], { ...members[1], addr: '/ip4/1.2.3.4/tcp/1' }] }, /^members\[1\]\.addr: must be a multiaddr ending in \/p2p/],
    [{ members: [members[0], members[0]] }, /^members: an ID is listed twice/],
    [{ registry: { ...registry, members: [] } }, /^registry\.members: at least one consortium signer/],
    [{ registry: { ...registry, threshold: 2 } }, /^registry\.threshold: must be an integer in \[1, the number of registry\.members\]/],
    [{ registry: { ...registry, doctors: ['00ff'] } }, /^registry\.doctors\[0\]: not an identity record/],
    [{ registry: { ...registry, extra: 1 } }, /^registry\.extra: unknown setting \(have: members, threshold, doctors, emergency, accounting\)/],
    [{ consortium: 'me' }, /^consortium: must be an ID/],
    [{ consortium: undefined }, /^consortium: must be an ID/],
    [{ diagnosisPrice: -1 }, /^diagnosisPrice: must be an integer/],
    [{ settlement: {} }, /^settlement\.keystore: must be a non-empty string/],
    [{ settlement: { keystore: 'k.json', passphrase: 'x' } }, /^settlement\.passphrase: unknown setting \(have: keystore, passphraseFile\)/],
    [{ userchain: { bootstrap: ['/dns4/x/tcp/1'] } }, /^userchain\.bootstrap\[0\]: must be a multiaddr ending in \/p2p/],
    [{ pbft: { window: 0 } }, /^pbft\.window: must be an integer in \[1, 3600000\]/],
    [{ pbft: { windows: 8 } }, /^pbft\.windows: unknown setting \(have: checkpointInterval, window/],
    [{ submitRate: 1.5 }, /^submitRate: must be an integer/]
  ])
})

t.test('bad storage configs are refused naming the field', async (t) => {
  const ex = await example('storage')
  const replica = (ex.replicas as string[])[0]!
  refusals(t, 'storage', validateStorageConfig, ex, [
    [{ dataDir: undefined }, /^dataDir: must be a non-empty string/],
    [{ network: 'testnet' }, /^network: must be one of/],
    [{ listen: [] }, /^listen: must be a list of multiaddrs/],
    [{ listen: '/ip4/0.0.0.0/tcp/1' }, /^listen: must be a list of multiaddrs/],
    [{ replicas: ['/ip4/10.0.0.1/tcp/1'] }, /^replicas\[0\]: must be a multiaddr ending in \/p2p/],
    [{ replicas: [replica, replica] }, /^replicas: a replica is listed twice/],
    [{ userchain: { bootstrap: ['/dns4/x/tcp/1'] } }, /^userchain\.bootstrap\[0\]: must be a multiaddr ending in \/p2p/],
    [{ userchain: { peers: [] } }, /^userchain\.peers: unknown setting \(have: bootstrap\)/],
    [{ fetchAttempts: 0 }, /^fetchAttempts: must be an integer in \[1, 100\]/],
    [{ retryDelayMs: -5 }, /^retryDelayMs: must be an integer in \[0, 600000\]/],
    [{ retryFailedEveryMs: 1.5 }, /^retryFailedEveryMs: must be an integer/],
    [{ replica: [] }, /^replica: unknown setting \(have: dataDir, network, listen, replicas/],
    [{ uploads: { quotaBytes: -1 } }, /^uploads\.quotaBytes: must be an integer in \[0, /],
    [{ uploads: { deadlineSeconds: 0 } }, /^uploads\.deadlineSeconds: must be an integer in \[1, /],
    [{ uploads: { quota: 1 } }, /^uploads\.quota: unknown setting/],
    [{ pinningApi: { tokens: [{ name: 'x', sha256: 'secret' }] } }, /^pinningApi\.tokens\[0\]\.sha256: must be the SHA-256 of the token/],
    [{ pinningApi: { port: 70_000 } }, /^pinningApi\.port: must be an integer in \[0, 65535\]/],
    [{ pinningApi: { tls: { cert: 'c.pem' } } }, /^pinningApi\.tls\.key: must be a non-empty string/]
  ])
  const d = validateStorageConfig({ dataDir: 'store' }, '/srv')
  t.same(d, {
    dataDir: '/srv/store', network: 'devnet', listen: ['/ip4/127.0.0.1/tcp/0'], replicas: [], userchain: { bootstrap: [] }, fetchAttempts: 3, retryDelayMs: 200, retryFailedEveryMs: 60_000,
    uploads: { quotaBytes: 64 * 1024 * 1024, quotaUploads: 256, deadlineSeconds: 3600, pruneEverySeconds: 60, maxSkewSeconds: 600 }
  }, 'defaults of a minimal storage config: uploads held one devnet txMaxAge, no Docchain, no pinning API')
  const api = validateStorageConfig({ dataDir: 'store', pinningApi: { tls: { cert: 'c.pem', key: 'k.pem' } } }, '/srv').pinningApi
  t.same(api, { host: '127.0.0.1', port: 4202, tokens: [], tls: { cert: '/srv/c.pem', key: '/srv/k.pem' } }, 'the pinning API on loopback by default, its TLS files resolved')
})

t.test('bad doctor configs are refused naming the field', async (t) => {
  const ex = await example('doctor')
  const dc = ex.docchain as { members: Array<{ id: string, addr: string }>, registry: Record<string, unknown> }
  const m = dc.members
  const storage = (ex.storageNodes as string[])[0]!
  refusals(t, 'doctor', validateDoctorConfig, ex, [
    [{ dataDir: undefined }, /^dataDir: must be a non-empty string/],
    [{ mode: undefined }, /^mode: must be one of ai, human/],
    [{ mode: 'robot' }, /^mode: must be one of ai, human/],
    [{ network: 'testnet' }, /^network: must be one of/],
    [{ name: '' }, /^name: must be a non-empty string/],
    [{ keystore: 7 }, /^keystore: must be a non-empty string/],
    [{ listen: '/ip4/0.0.0.0/tcp/1' }, /^listen: must be a list of multiaddrs/],
    [{ userchain: undefined }, /^userchain: must be \{"bootstrap"/],
    [{ userchain: { bootstrap: [] } }, /^userchain\.bootstrap: at least one core user node/],
    [{ userchain: { bootstrap: ['/dns4/x/tcp/1'] } }, /^userchain\.bootstrap\[0\]: must be a multiaddr ending in \/p2p/],
    [{ storageNodes: [] }, /^storageNodes: at least one storage node/],
    [{ storageNodes: ['/ip4/10.0.0.1/tcp/1'] }, /^storageNodes\[0\]: must be a multiaddr ending in \/p2p/],
    [{ storageNodes: [storage], replication: 2 }, /^replication: 2 needs at least that many storageNodes \(1 given\)/],
    [{ replication: 0 }, /^replication: must be an integer in \[1, 16\]/],
    [{ docchain: undefined }, /^docchain: must be \{"members"/],
    [{ docchain: { ...dc, members: [] } }, /^docchain\.members: must be a non-empty list/],
    [{ docchain: { ...dc, members: [{ id: 'abc', addr: m[0]!.addr }] } }, /^docchain\.members\[0\]\.id: must be an ID: 64 hex digits/],
    [{ docchain: { ...dc, members: [m[0], { ...m[1], addr: '/ip4/1.2.3.4/tcp/1' }] } }, /^docchain\.members\[1\]\.addr: must be a multiaddr ending in \/p2p/],
    [{ docchain: { ...dc, members: [m[0], m[0]] } }, /^docchain\.members: an ID is listed twice/],
    [{ docchain: { ...dc, members: m.map((x) => ({ id: x.id })) } }, /^docchain\.members: at least one member needs an "addr"/],
    [{ docchain: { ...dc, registry: { ...dc.registry, doctors: ['00ff'] } } }, /^docchain\.registry\.doctors\[0\]: not an identity record/],
    [{ submit: { retrySeconds: 0 } }, /^submit\.retrySeconds: must be an integer in \[1, 86400\]/],
    [{ submit: { timeout: 5 } }, /^submit\.timeout: unknown setting \(have: timeoutSeconds, retrySeconds\)/],
    [{ consortium: 'me' }, /^consortium: must be an ID/],
    [{ diagnosisPrice: -1 }, /^diagnosisPrice: must be an integer/],
    [{ minSeverity: 'high' }, /^minSeverity: must be one of routine, low, urgent, emergency/],
    [{ http: { port: 70000 } }, /^http\.port: must be an integer in \[0, 65535\]/]
  ])
  const d = validateDoctorConfig({ dataDir: 'doc', mode: 'human', userchain: ex.userchain, storageNodes: [storage], docchain: { members: [m[0]], registry: dc.registry } }, '/srv')
  t.same(d, {
    dataDir: '/srv/doc', network: 'devnet', mode: 'human', name: 'Doctor', keystore: '/srv/doc/keystore.json', listen: ['/ip4/127.0.0.1/tcp/0'],
    userchain: ex.userchain, storageNodes: [storage], replication: 1,
    docchain: { members: [m[0]], genesisTime: 1_767_225_600, registry: dc.registry, pollSeconds: 30 }, submit: { timeoutSeconds: 120, retrySeconds: 30 },
    diagnosisPrice: 100_000, minSeverity: 'low', episodes: { recoverySeconds: 120 }, http: { host: '127.0.0.1', port: 1881 }
  }, 'defaults of a minimal doctor config')
})

t.test('defaults and paths are filled as documented', async (t) => {
  t.throws(() => validateHubConfig({ dataDir: 'data' }), /^storageNodes: 0 given, replication 1 needs at least that many/, 'a hub needs a storage node')
  const hub = validateHubConfig({ dataDir: 'data', storageNodes: ['/ip4/127.0.0.1/tcp/1/p2p/12D3KooWNMghTXJunhDMmtDsALrNukYYKisBMyzrcDPfW6DeTino'] }, '/etc/hc')
  t.same({ dataDir: hub.dataDir, network: hub.network, mine: hub.mine, replication: hub.replication, keyRotationDays: hub.keyRotationDays, broker: hub.broker, http: hub.http },
    { dataDir: '/etc/hc/data', network: 'devnet', mine: false, replication: 1, keyRotationDays: 7, broker: { embedded: { host: '127.0.0.1', port: 1883, plainOnLan: false, tls: { host: '0.0.0.0', port: 8883 } } }, http: { host: '127.0.0.1', port: 1880, tls: 'self-signed' } })
  const viaApi = validateHubConfig({ dataDir: 'data', pinningServices: [{ endpoint: 'https://pinning.example/psa', tokenFile: 'psa.token' }, { endpoint: 'http://127.0.0.1:4202' }] }, '/etc/hc')
  t.same([viaApi.pinningServices, viaApi.replication], [[{ endpoint: 'https://pinning.example/psa', tokenFile: '/etc/hc/psa.token' }, { endpoint: 'http://127.0.0.1:4202' }], 2],
    'pinning services are storage targets: they count towards replication, token files resolved')
  t.throws(() => validateHubConfig({ dataDir: 'data', pinningServices: [{ endpoint: 'ftp://x' }] }), /^pinningServices\[0\]\.endpoint: must be an http\(s\):\/\/ URL/, 'an endpoint is an http(s) URL')
  const ex = await example('accounting')
  const acc = validateAccountingConfig({ ...ex, dataDir: 'acc', keystore: undefined, listen: undefined }, '/srv')
  t.equal(acc.keystore, '/srv/acc/keystore.json')
  t.notOk('settlement' in validateAccountingConfig({ ...ex, settlement: undefined }), 'no settlement without the consortium\'s keystore')
  t.same(validateAccountingConfig({ ...ex, settlement: { keystore: 'consortium.json' } }, '/srv').settlement, { keystore: '/srv/consortium.json' }, 'its keystore path resolved; the passphrase is the node\'s own')
  t.same(acc.listen, ['/ip4/127.0.0.1/tcp/0'])
  t.equal(acc.members[0]!.id, (ex.members as Array<{ id: string }>)[0]!.id.toLowerCase())
})
