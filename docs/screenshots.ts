/**
 * Regenerates docs/screenshots/*.png from a fresh devnet once the AI
 * doctor's diagnoses of the oximeter's desaturation episode are certified
 * (its opening, and what changed within 75 s after: a batch window and a block), in Debian's Chromium,
 * at 1280 px and on a 360 px phone: `node docs/screenshots.ts`.
 */
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { startDevnet } from '../hub/src/devnet.ts'
import { mkdtempSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { LOGINS_FILE, parseLoginsFile } from '../hub/src/web/logins.ts'
const OUT = fileURLToPath(new URL('./screenshots', import.meta.url))
const lines: string[] = []
const net = await startDevnet({ dataDir: mkdtempSync('/tmp/shots-'), port: 0, episodeSeconds: 5, log: (l) => { lines.push(l) } })
// a certified diagnosis on the hub's page (the hub logs each one it reads from Docchain), then the episode's next changes
while (lines.filter((l) => /^\[hub\] \S+ certified diagnosis:/.test(l)).length < 1) await new Promise((r) => setTimeout(r, 500))
await new Promise((r) => setTimeout(r, 75_000))
const docLogin = lines.find((l) => /^\[doctor-human\] +page login/.test(l))!.split(' / ')[1]!.split(' ')[0]!.trim()
const webLogin = parseLoginsFile(readFileSync(join(net.plan.at('hub'), LOGINS_FILE), 'utf8')).web!.password
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--ignore-certificate-errors'] })
for (const [name, url, pass] of [['patient', net.urls.patient, webLogin], ['doctor', net.urls.humanDoctor, docLogin]] as const) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } })
  await page.goto(url)
  await page.fill('input[name=username]', 'admin')
  await page.fill('input[name=password]', pass)
  await page.click('button[type=submit]')
  await page.waitForLoadState('networkidle')
  await new Promise((r) => setTimeout(r, 1500))
  await page.screenshot({ path: `${OUT}/${name}.png`, fullPage: false })
  await page.setViewportSize({ width: 360, height: 780 })
  await page.screenshot({ path: `${OUT}/${name}-phone.png` })
}
await browser.close()
await net.stop()
process.exit(0)
