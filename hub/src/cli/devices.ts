/**
 * `healthchain devices add|list|remove`: pairing IoT devices with this hub
 * (paper §III-A: each device has one user node as its manager). `add`
 * prints the device's secret once — its MQTT password; the registry keeps
 * only a salted hash. Through the running hub's control API, or on
 * <data-dir>/ingest when the hub is stopped; the same service call
 * (app/hub-service.ts devicesService) either way.
 */
import type { Command } from 'commander'
import { ingestDbPath } from '../ingest/hub.ts'
import { SENSOR_TYPES } from '../ingest/line.ts'
import type { SensorType } from '../ingest/line.ts'
import { DeviceRegistry } from '../ingest/registry.ts'
import type { PublicDevice } from '../ingest/registry.ts'
import { IngestStore } from '../ingest/store.ts'
import { devicesService, type DevicesService } from '../app/hub-service.ts'
import type { ApiClient } from '../api/client.ts'
import { join } from 'node:path'
import { toHex } from '../core/index.ts'
import { keystoreId } from '../store/keystore.ts'
import { dataDir } from './_common.ts'
import { output, viaDaemon } from './_daemon.ts'

interface Opts { dataDir?: string, json?: boolean }

async function withRegistry<T> (o: Opts, fn: (s: DevicesService) => Promise<T>): Promise<T> {
  let store: IngestStore
  try {
    store = await IngestStore.open(ingestDbPath(dataDir(o.dataDir)))
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause
    if (cause?.code === 'LEVEL_LOCKED') throw new Error(`the device registry in ${dataDir(o.dataDir)} is in use by a process whose control API does not answer; stop it first`)
    throw err
  }
  try {
    return await fn(devicesService(await DeviceRegistry.load(store)))
  } finally {
    await store.close()
  }
}

async function devices<T> (o: Opts, api: (c: ApiClient) => Promise<T>, direct: (s: DevicesService) => Promise<T>): Promise<T> {
  return await viaDaemon(o.dataDir, api, async () => await withRegistry(o, direct))
}

/**
 * The user a device is paired to: the hub seals the readings of its own
 * user's devices only (its keystore's full ID), so with a keystore in the
 * data dir `--user` must be that ID; without one (`--user` naming a user
 * of another hub setup), it is taken as given.
 */
async function pairedUser (o: Opts & { user?: string }): Promise<string> {
  const file = join(dataDir(o.dataDir), 'keystore.json')
  const own = await keystoreId(file).then(toHex, () => undefined)
  if (own === undefined) {
    if (o.user === undefined) throw new Error(`--user: not given, and there is no keystore in ${dataDir(o.dataDir)} to take this hub's user ID from (create it first: healthchain keys new --data-dir ${dataDir(o.dataDir)})`)
    return o.user
  }
  if (o.user !== undefined && o.user.toLowerCase() !== own) {
    throw new Error(`--user ${o.user}: this hub's user is ${own} (${file}); a device paired to another ID would have its readings accepted but never sealed. Leave --user out, or pass that ID`)
  }
  return own
}

function row (d: PublicDevice): string {
  const dropped = Object.entries(d.dropped).map(([k, v]) => `${k.replace(/^ERR_/, '').toLowerCase()}=${v}`).join(',') || '-'
  const seen = d.lastSeen === null ? 'never' : new Date(d.lastSeen).toISOString()
  return [d.id.padEnd(20), d.user.slice(0, 16).padEnd(17), d.sensors.join(',').padEnd(12), String(d.accepted).padStart(9), '  ', seen.padEnd(25), dropped].join(' ')
}

export function register (program: Command): void {
  const group = program.command('devices').description('pair IoT devices with this hub and inspect their counters')
  const withDir = (c: Command): Command => c.option('--data-dir <dir>', 'data directory (default $HEALTHCHAIN_DATA or ~/.healthchain)').option('--json', 'machine-readable output')

  withDir(group.command('add <id>'))
    .description('pair a device: prints its secret (MQTT password) once')
    .option('--user <id>', 'the user whose batches receive this device\'s readings: this hub\'s user ID, 64 hex digits (default: the ID of the keystore in the data dir)')
    .option('--sensor <type...>', `sensor type(s) it carries: ${SENSOR_TYPES.join(', ')}`, [])
    .addHelpText('after', '\nExample:\n  healthchain devices add ox-1 --sensor spo2 hr    # paired to this hub\'s user (its keystore\'s ID)\n')
    .action(async (id: string, o: Opts & { user?: string, sensor: string[] }) => {
      const req = { id, user: await pairedUser(o), sensors: o.sensor as SensorType[] }
      const d = await devices(o, async (c) => await c.call<PublicDevice & { secret: string }>('POST', '/v1/devices', req), async (s) => await s.add(req))
      output(o, d, () => `paired ${d.id} for user ${d.user} (${d.sensors.join(', ') || 'no sensors listed'})\nsecret: ${d.secret}\n(shown once: configure it on the device as its MQTT password)`)
    })

  withDir(group.command('list'))
    .description('list paired devices with last-seen time and accepted/dropped line counters')
    .action(async (o: Opts) => {
      const list = await devices(o, async (c) => await c.call<PublicDevice[]>('GET', '/v1/devices'), async (s) => await s.list())
      output(o, list, () => list.length === 0
        ? 'no devices paired (healthchain devices add <id> --user <user>)'
        : [['ID'.padEnd(20), 'USER'.padEnd(17), 'SENSORS'.padEnd(12), 'ACCEPTED'.padStart(9), '  ', 'LAST SEEN'.padEnd(25), 'DROPPED'].join(' '), ...list.map(row)].join('\n'))
    })

  withDir(group.command('remove <id>'))
    .description('unpair a device: its credentials stop working at once')
    .action(async (id: string, o: Opts) => {
      const r = await devices(o, async (c) => await c.call<{ removed: string }>('DELETE', `/v1/devices/${encodeURIComponent(id)}`), async (s) => await s.remove(id))
      output(o, r, () => `removed ${r.removed}`)
    })
}
