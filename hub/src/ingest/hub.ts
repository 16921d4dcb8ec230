/**
 * The hub's ingest service (paper §III-A, the user node receiving from its
 * devices): the pipeline on LevelDB plus its sources — the embedded MQTT
 * broker (default), or a subscription to an external broker, and any
 * number of serial ports. Used by the hub process and by `main.ts`.
 */
import { join } from 'node:path'
import { EmbeddedBroker, HubSubscriber } from './mqtt.ts'
import type { SubscriberOptions } from './mqtt.ts'
import { Ingest } from './pipeline.ts'
import type { IngestOptions } from './pipeline.ts'
import { SerialSource } from './serial.ts'
import type { SerialSourceOptions } from './serial.ts'

export interface IngestServiceOptions extends IngestOptions {
  dataDir: string
  hubId: string
  /** embedded broker port (default 1883; 0 = any); ignored with `externalBroker` */
  mqttPort?: number
  mqttHost?: string
  /** an mqtts listener beside the plain one (key and certificate PEM) */
  mqttTls?: { host?: string, port?: number, key: string, cert: string }
  /** subscribe to an external broker (e.g. Mosquitto) instead of embedding aedes */
  externalBroker?: Omit<SubscriberOptions, 'hubId'>
  serial?: SerialSourceOptions[]
}

export interface IngestService {
  ingest: Ingest
  broker: EmbeddedBroker | null
  subscriber: HubSubscriber | null
  serial: SerialSource[]
  close: () => Promise<void>
}

/** The ingest database lives in <dataDir>/ingest. */
export function ingestDbPath (dataDir: string): string { return join(dataDir, 'ingest') }

export async function startIngestService (o: IngestServiceOptions): Promise<IngestService> {
  const ingest = await Ingest.open(ingestDbPath(o.dataDir), o)
  let broker: EmbeddedBroker | null = null
  let subscriber: HubSubscriber | null = null
  const serial: SerialSource[] = []
  try {
    if (o.externalBroker !== undefined) subscriber = await HubSubscriber.connect(ingest, { ...o.externalBroker, hubId: o.hubId })
    else broker = await EmbeddedBroker.start(ingest, { hubId: o.hubId, port: o.mqttPort ?? 1883, ...(o.mqttHost !== undefined ? { host: o.mqttHost } : {}), ...(o.mqttTls !== undefined ? { tls: o.mqttTls } : {}) })
    for (const s of o.serial ?? []) {
      const src = new SerialSource(ingest, s)
      src.start()
      serial.push(src)
    }
  } catch (err) {
    await broker?.close()
    await subscriber?.close()
    await ingest.close()
    throw err
  }
  return {
    ingest,
    broker,
    subscriber,
    serial,
    async close () {
      for (const s of serial) await s.stop()
      await subscriber?.close()
      await broker?.close()
      await ingest.close()
    }
  }
}
