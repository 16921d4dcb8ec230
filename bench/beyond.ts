/**
 * `npm run bench -- beyond`: the figures of the features beyond the paper.
 * Each feature measures itself in its own module, bench/_beyond-<feature>.ts,
 * exporting `run(): Promise<Record<string, number>>`; this bench runs every
 * such module in name order and merges their flat metrics into
 * bench/results/beyond.json (a metric name appearing twice is an error, so
 * one feature cannot silently overwrite another's figure).
 */
import { readdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { join } from 'node:path'

const dir = fileURLToPath(new URL('.', import.meta.url))

export async function run (): Promise<Record<string, number>> {
  const parts = (await readdir(dir)).filter((f) => /^_beyond-[a-z0-9-]+\.ts$/.test(f)).sort()
  if (parts.length === 0) throw new Error('no bench/_beyond-*.ts module to run')
  const out: Record<string, number> = {}
  for (const f of parts) {
    console.log(`--- ${f.slice('_beyond-'.length, -3)} ---`)
    const mod = await import(pathToFileURL(join(dir, f)).href) as { run: () => Promise<Record<string, number>> }
    for (const [k, v] of Object.entries(await mod.run())) {
      if (k in out) throw new Error(`metric ${k} is measured by two beyond modules`)
      out[k] = v
    }
  }
  return out
}
