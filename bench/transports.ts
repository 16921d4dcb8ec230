/**
 * Transports bench: what TLS costs on the LAN-facing surfaces, each figure
 * beside its plain counterpart measured in the same run.
 * - MQTT QoS 1 readings/s: 10 devices in a child process publish to the
 *   embedded broker, ≤500 unacknowledged each, PUBACK after the fsynced
 *   LevelDB write (as the hub runs); the clock starts when the publishers
 *   are told to go and stops at the last PUBACK. Plain MQTT, then mqtts
 *   (TLS 1.3 with the hub CA's P-256 certificate, verified by the devices).
 *   Target: mqtts ≥ 0.7 × plain.
 * - the login page over HTTPS and plain HTTP: 300 GETs on one kept-alive
 *   connection each after 20 warm-up GETs; per request, from fetch() to the
 *   body read. p50 and p95 in ms.
 * - mqtt-oversize-connect: the broker process's RSS growth while a CONNECT
 *   declaring 200 MiB is sent until the broker closes the socket.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import express from 'express'
import { table } from './_stats.ts'
import { mqttRun } from './ingest.ts'
import { Ingest } from '../hub/src/ingest/pipeline.ts'
import { EmbeddedBroker } from '../hub/src/ingest/mqtt.ts'
import { loadOrCreateTls } from '../hub/src/store/tls.ts'
import { createWebRouter } from '../hub/src/web/router.ts'
import { webServer } from '../hub/src/web/listen.ts'
import type { PatientModel } from '../hub/src/web/model.ts'

const MIB = 1024 * 1024
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

function pct (xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

async function pageTimes (origin: string): Promise<number[]> {
  const get = async (): Promise<void> => { const r = await fetch(`${origin}/login`); await r.text(); if (r.status !== 200) throw new Error(`/login: ${r.status}`) }
  for (let i = 0; i < 20; i++) await get()
  const ms: number[] = []
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now()
    await get()
    ms.push(performance.now() - t0)
  }
  return ms
}

/** RSS growth of this process (the broker's) during the oversize-CONNECT attack. */
async function oversizeGrowth (dir: string): Promise<{ growthMiB: number, sentKiB: number }> {
  const ing = await Ingest.open(join(dir, 'oversize'), { sync: false })
  const broker = await EmbeddedBroker.start(ing, { hubId: 'bench', port: 0 })
  try {
    global.gc?.()
    const rss0 = process.memoryUsage().rss
    const sock = netConnect(broker.port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject) })
    let closed = false
    sock.on('error', () => {})
    sock.on('close', () => { closed = true })
    // CONNECT, Remaining Length 200 MiB (0xff 0xff 0xff 0x63 = 209,715,199 ≈ 200 MiB)
    let sent = 0
    const write = async (b: Buffer): Promise<boolean> => await new Promise((resolve) => { sock.write(b, (err) => { resolve(err == null) }) })
    if (await write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x63]))) sent += 5
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    let peak = rss0
    while (!closed && sent < 64 * MIB) {
      if (!await write(chunk)) break
      sent += chunk.length
      peak = Math.max(peak, process.memoryUsage().rss)
      await sleep(1)
    }
    peak = Math.max(peak, process.memoryUsage().rss)
    sock.destroy()
    return { growthMiB: (peak - rss0) / MIB, sentKiB: sent / 1024 }
  } finally {
    await broker.close()
    await ing.close()
  }
}

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-transports-'))
  try {
    const material = await loadOrCreateTls(join(dir, 'hub'), { hosts: ['127.0.0.1'] })
    const t = { key: material.key, cert: material.cert, ca: material.ca! }
    const devices = 10
    const perDevice = Number(process.env.BENCH_TRANSPORTS_PER_DEVICE ?? 2000)
    const plain = await mqttRun(dir, true, devices, perDevice)
    const secure = await mqttRun(dir, true, devices, perDevice, t)

    // the login page through the real router, over HTTPS and over plain HTTP
    const web = await createWebRouter({ dataDir: join(dir, 'web'), patient: {} as PatientModel, log: () => {} })
    const app = express()
    app.use('/', web.router)
    tls.setDefaultCACertificates([...tls.getCACertificates('default'), t.ca])
    const https = await webServer(app, { host: '127.0.0.1', port: 0, tls: t }).listen()
    const http = await webServer(app, { host: '127.0.0.1', port: 0 }).listen()
    const httpsMs = await pageTimes(https.origin)
    const httpMs = await pageTimes(http.origin)
    await https.close()
    await http.close()

    const attack = await oversizeGrowth(dir)
    const ratio = secure.rate / plain.rate
    console.log(`MQTT QoS 1: ${devices} devices × ${perDevice} readings, ≤500 unacked each, PUBACK after the fsynced LevelDB write; clock from "go" to the last PUBACK`)
    table([
      ['path', 'readings/s', 'readings per hub CPU-second', 'target'],
      ['plain MQTT', plain.rate, plain.perCpuS, ''],
      ['mqtts (TLS, hub CA)', secure.rate, secure.perCpuS, '≥ 0.7 × plain'],
      ['ratio mqtts / plain', ratio, '', ratio >= 0.7 ? 'met' : 'MISSED']
    ])
    console.log('\nlogin page, 300 GETs on a kept-alive connection, fetch() to body read')
    table([
      ['', 'p50 ms', 'p95 ms'],
      ['HTTPS', pct(httpsMs, 0.5), pct(httpsMs, 0.95)],
      ['plain HTTP', pct(httpMs, 0.5), pct(httpMs, 0.95)]
    ])
    console.log(`\nmqtt-oversize-connect: CONNECT declaring 200 MiB; the broker closed the socket after ${attack.sentKiB.toFixed(0)} KiB were written; broker RSS growth ${attack.growthMiB.toFixed(1)} MiB`)
    const r2 = (x: number): number => Math.round(x * 100) / 100
    return {
      mqtts_readings_per_s: Math.round(secure.rate),
      mqtt_plain_readings_per_s: Math.round(plain.rate),
      mqtts_vs_plain_ratio: r2(ratio),
      https_page_ms_p50: r2(pct(httpsMs, 0.5)),
      https_page_ms_p95: r2(pct(httpsMs, 0.95)),
      http_page_ms_p50: r2(pct(httpMs, 0.5)),
      mqtt_oversize_connect_rss_growth_mib: r2(attack.growthMiB),
      mqtt_oversize_connect_bytes_accepted_kib: Math.round(attack.sentKiB)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
