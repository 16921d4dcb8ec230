/**
 * Ingest bench (issue 9): readings/s through MQTT QoS 1 into durable batches
 * (publishers in a child process → embedded aedes → parse, replay check,
 * fsynced LevelDB group commit → PUBACK; batches of 1000 closing meanwhile),
 * and serial lines/s over a pty compared with what a 115200-baud link can
 * carry. The paper reports no ingest figure; the target is
 * ≥ 20,000 readings/s.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn, execFileSync } from 'node:child_process'
import { constants, existsSync, openSync, writeSync, closeSync } from 'node:fs'
import { table } from './_stats.ts'
import { Ingest } from '../hub/src/ingest/pipeline.ts'
import { EmbeddedBroker } from '../hub/src/ingest/mqtt.ts'
import { SerialSource } from '../hub/src/ingest/serial.ts'
import { formatLine, parseLine } from '../hub/src/ingest/line.ts'

const HUB = 'bench'
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Publishers in a child process → the embedded broker → durable ingest; over mqtts when given the hub's TLS material. */
export async function mqttRun (dir: string, sync: boolean, devices: number, perDevice: number, tls?: { key: string, cert: string, ca: string }): Promise<{ rate: number, perCommit: number, batches: number, perCpuS: number }> {
  const ing = await Ingest.open(join(dir, `mqtt-${String(sync)}-${tls === undefined ? 'plain' : 'tls'}`), { sync, maxReadings: 1000 })
  const devs: Array<{ id: string, secret: string }> = []
  for (let i = 0; i < devices; i++) devs.push({ id: `b-${i}`, secret: (await ing.registry.add(`b-${i}`, { user: `u${i % 3}`, sensors: ['hr'] })).secret })
  // no per-device rate limit: this measures the pipeline's own ceiling, 10 devices far above any sensor's rate
  const broker = await EmbeddedBroker.start(ing, { hubId: HUB, port: 0, publishRate: null, ...(tls === undefined ? {} : { tls: { host: '127.0.0.1', port: 0, key: tls.key, cert: tls.cert } }) })
  const w = fork(fileURLToPath(new URL('./_ingest-publisher.ts', import.meta.url)), [], { execArgv: ['--no-warnings'] })
  const failed = new Promise<never>((_resolve, reject) => {
    w.once('error', reject)
    w.once('exit', (code) => { reject(new Error(`publisher exited with ${code}`)) })
  })
  failed.catch(() => {})
  w.send({ url: tls === undefined ? broker.url : broker.tlsUrl, hubId: HUB, devices: devs, perDevice, window: 500, ...(tls === undefined ? {} : { ca: tls.ca }) })
  await Promise.race([new Promise((resolve) => w.once('message', resolve)), failed])
  const commits0 = ing.store.commits
  const cpu0 = process.cpuUsage()
  w.send('go')
  const res = await Promise.race([new Promise<{ acked: number, ms: number }>((resolve) => { w.once('message', resolve) }), failed])
  const cpu = process.cpuUsage(cpu0)
  w.kill()
  const commits = ing.store.commits - commits0
  const accepted = ing.counters.accepted
  const batches = ing.counters.batches
  await broker.close()
  await ing.close()
  if (accepted !== devices * perDevice || res.acked !== accepted) throw new Error(`acked ${res.acked}, accepted ${accepted}`)
  return { rate: res.acked / (res.ms / 1000), perCommit: accepted / commits, batches, perCpuS: accepted / ((cpu.user + cpu.system) / 1e6) }
}

async function serialRun (dir: string, lines: number): Promise<{ rate: number, bytes: number } | null> {
  try { execFileSync('sh', ['-c', 'command -v socat'], { stdio: 'ignore' }) } catch { return null }
  const a = join(dir, 'pa')
  const b = join(dir, 'pb')
  const socat = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' })
  try {
    for (let i = 0; i < 200 && !(existsSync(a) && existsSync(b)); i++) await sleep(25)
    const ing = await Ingest.open(join(dir, 'serial'), { sync: true })
    await ing.registry.add('th-1', { user: 'u', sensors: ['temp'] })
    const src = new SerialSource(ing, { path: b, device: 'th-1' })
    src.start()
    for (let i = 0; i < 400 && !src.isOpen; i++) await sleep(25)
    const text = Array.from({ length: lines }, (_, s) => formatLine({ d: 'th-1', b: 1, s, t: 'temp', v: 36.5 + (s % 10) / 10, ts: s * 1000 })).join('')
    const fd = openSync(a, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY) // non-blocking: the reader runs on this thread
    const start = performance.now()
    const buf = Buffer.from(text)
    for (let off = 0; off < buf.length;) {
      try { off += writeSync(fd, buf, off, Math.min(4096, buf.length - off)) } catch (e) { if ((e as { code?: string }).code === 'EAGAIN') await sleep(1); else throw e }
    }
    for (let i = 0; i < 6000 && ing.counters.accepted < lines; i++) await sleep(5)
    const ms = performance.now() - start
    closeSync(fd)
    const got = ing.counters.accepted
    await src.stop()
    await ing.close()
    if (got !== lines) throw new Error(`serial: ${got} of ${lines} lines accepted`)
    return { rate: lines / (ms / 1000), bytes: buf.length / lines }
  } finally {
    socat.kill('SIGTERM')
  }
}

export async function run (): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-ingest-'))
  try {
    const devices = 10
    const perDevice = Number(process.env.BENCH_INGEST_PER_DEVICE ?? 4000)
    const durable = await mqttRun(dir, true, devices, perDevice)
    const cached = await mqttRun(dir, false, devices, perDevice)
    const serial = await serialRun(dir, 3000)
    // 8N1: 10 bits on the wire per byte
    const lineRate = serial === null ? NaN : 115200 / 10 / serial.bytes
    const line = formatLine({ d: 'ox-1', b: 1, s: 1, t: 'spo2', v: 97, ts: 1 })
    const n = 100_000
    const t0 = performance.now()
    for (let i = 0; i < n; i++) parseLine(line)
    const parseRate = n / ((performance.now() - t0) / 1000)

    console.log(`MQTT QoS 1: ${devices} devices × ${perDevice} readings, ≤500 unacked each; PUBACK only after the LevelDB write; hub CPU-seconds by process.cpuUsage (publishers run in another process)`)
    table([
      ['path', 'readings/s (wall)', 'readings per hub CPU-second', 'readings per LevelDB commit', 'batches closed', 'target'],
      ['MQTT QoS1 → fsynced LevelDB', durable.rate, durable.perCpuS, durable.perCommit, durable.batches, '≥ 20000/s'],
      ['MQTT QoS1 → LevelDB (no fsync)', cached.rate, cached.perCpuS, cached.perCommit, cached.batches, ''],
      ['parseLine alone', parseRate, '', '', '', '']
    ])
    if (serial !== null) {
      console.log(`\nserial over a pty: ${serial.rate.toFixed(0)} lines/s of ${serial.bytes.toFixed(1)} bytes; a 115200-baud 8N1 link carries ${lineRate.toFixed(0)} lines/s → ratio ${(serial.rate / lineRate).toFixed(1)}× (≥ 1 means the hub keeps up with a saturated link)`)
    } else console.log('\nserial: socat not installed, skipped')
    return {
      ingest_mqtt_readings_per_s: Math.round(durable.rate),
      ingest_mqtt_nosync_readings_per_s: Math.round(cached.rate),
      ingest_mqtt_readings_per_hub_cpu_s: Math.round(durable.perCpuS),
      ingest_mqtt_readings_per_commit: Math.round(durable.perCommit * 10) / 10,
      ingest_serial_lines_per_s: serial === null ? NaN : Math.round(serial.rate),
      serial_line_rate_115200: Math.round(lineRate * 10) / 10,
      serial_line_rate_ratio: serial === null ? NaN : Math.round(serial.rate / lineRate * 100) / 100,
      ingest_parse_lines_per_s: Math.round(parseRate)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
