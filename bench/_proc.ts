/**
 * What a running process costs, read from Linux's /proc (proc(5)): resident
 * memory (VmRSS in /proc/<pid>/status, worker threads included) and CPU time
 * (utime + stime, fields 14 and 15 of /proc/<pid>/stat, in USER_HZ = 100
 * ticks/s; every thread of the process counts, so a miner's worker does too).
 */
import { readFileSync } from 'node:fs'

/** Resident set size in MB, or null when the process is gone. */
export function rssMb (pid: number): number | null {
  let status: string
  try { status = readFileSync(`/proc/${pid}/status`, 'utf8') } catch { return null }
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)
  return kb === null ? null : Number(kb[1]) / 1024
}

/** User + system CPU time in ms the process has used so far, or null when it is gone. */
export function cpuMs (pid: number): number | null {
  let stat: string
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8') } catch { return null }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields from 3 on (the command name may hold spaces)
  return (Number(f[11]) + Number(f[12])) * 10
}

/** CPU% of one core the process used over the next `ms` (100 = one core busy). */
export async function cpuPercentOver (pid: number, ms: number): Promise<number> {
  const c0 = cpuMs(pid)
  const t0 = performance.now()
  await new Promise((resolve) => setTimeout(resolve, ms))
  const c1 = cpuMs(pid)
  if (c0 === null || c1 === null) throw new Error(`process ${pid} ended while its CPU time was measured`)
  return 100 * (c1 - c0) / (performance.now() - t0)
}
