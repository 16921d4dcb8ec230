/**
 * The patient and doctor pages in a real Chromium (Debian's chromium found on
 * PATH, or the file CHROMIUM_PATH names, driven by playwright-core; no
 * browser is downloaded), over the real roles of web-fixture.ts: a wrong
 * password is refused; after login the patient sees vitals charts, the
 * committed AI diagnosis with its severity colour and causes, and the
 * Healthcoin balance; the human doctor amends and signs the queued diagnosis
 * and the patient sees it; revoking the doctor removes it from the list and
 * from the doctor's patients; a new abnormal episode shows up live (alert and
 * diagnosis) without reloading. Screenshots are written to the test's temp
 * dir (and to $WEB_SCREENSHOTS when set).
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { toHex, txId } from '../../hub/src/core/index.ts'
import { serve, trace, T0, type Served } from './web-fixture.ts'
import { findTool, skipUnlessTools } from '../helpers/tools.ts'

// names the evaluate() callbacks use inside the page (this project type-checks without the DOM lib)
declare const getComputedStyle: (e: unknown) => { backgroundColor: string, borderLeftColor: string }
declare const document: { documentElement: { scrollWidth: number, clientWidth: number } }

const skip = skipUnlessTools('chromium')
if (skip !== false) {
  // the whole file is reported as skipped (1..0 # SKIP), never as a pass
  t.plan(0, skip)
} else {
  const CHROMIUM = findTool('chromium')!
  let s: Served
  let ctx: BrowserContext
  let dir: string
  const problems: string[] = []

  t.before(async () => {
    s = await serve()
    dir = await mkdtemp(join(tmpdir(), 'hc-browser-'))
    ctx = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      // trust exactly the fixture server's key (as a user who accepted the hub's certificate), nothing else
      args: [`--ignore-certificate-errors-spki-list=${s.spki}`, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
      timeout: 45_000
    })
    ctx.setDefaultTimeout(15_000)
    ctx.on('page', (p) => watch(p))
    for (const p of ctx.pages()) watch(p)
  })
  t.teardown(async () => {
    await ctx?.close()
    await s?.close()
    if (dir !== undefined) await rm(dir, { recursive: true, force: true })
  })

  /** Console errors (CSP violations, script errors) and requests leaving the hub fail the test. */
  function watch (p: Page): void {
    p.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`) })
    p.on('pageerror', (e) => problems.push(`page error: ${e.message}`))
    p.on('request', (r) => { if (!r.url().startsWith(s.web.url) && !r.url().startsWith('data:')) problems.push(`request off the hub: ${r.url()}`) })
  }

  /** axe-core's WCAG 2.x A/AA rules on the page as it is; returns the violations as text. */
  async function axe (page: Page): Promise<string[]> {
    const src = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
    await page.evaluate(src)
    const result = await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })`) as { violations: { id: string, impact: string, nodes: { target: string[] }[] }[] }
    return result.violations.map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`)
  }

  async function shot (page: Page, name: string): Promise<string> {
    const path = join(dir, `${name}.png`)
    await page.screenshot({ path, fullPage: true })
    const keep = process.env.WEB_SCREENSHOTS
    if (keep !== undefined && keep !== '') { await mkdir(keep, { recursive: true }); await copyFile(path, join(keep, `${name}.png`)) }
    return path
  }

  t.test('wrong password refused', async (t) => {
    const page = await ctx.newPage()
    t.teardown(() => page.close())
    await page.goto(`${s.web.url}/patient`)
    t.match(page.url(), /\/login\?next=%2Fpatient$/, 'sent to the login page')
    await page.getByLabel('User name').fill('admin')
    await page.getByLabel('Password').fill('wrong-password')
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.getByRole('alert').filter({ hasText: 'Wrong user name or password.' }).waitFor()
    t.match(page.url(), /\/login$/, 'still on the login page')
    await shot(page, 'login-refused')
    t.equal(await page.getByRole('heading', { name: 'Diagnoses' }).count(), 0, 'no patient data shown')
    t.same(problems.filter((p) => !/status of 401/.test(p)), [], 'only the refused login logged an error')
    problems.splice(0)
    t.same(await axe(page), [], 'login page: no WCAG 2 A/AA violations (axe-core)')
    await page.evaluate("document.querySelector('label[for=username]').remove()")
    t.match((await axe(page)).join('\n'), /label/, 'the checker does catch an unlabelled field')
  })

  t.test('patient and doctor pages in Chromium', async (t) => {
    const f = s.fixture
    const page = await ctx.newPage()
    t.teardown(() => page.close())
    await page.goto(`${s.web.url}/patient`)
    await page.getByLabel('User name').fill('admin')
    await page.getByLabel('Password').fill(s.password)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(`${s.web.url}/patient`)
    t.pass('logged in and back on the patient page')

    // a diagnosis, its severity colour and the readings behind it
    const dx = page.locator('article.diagnosis').first()
    await dx.waitFor()
    t.match(await dx.getByRole('heading').innerText(), /URGENT\s+hypoxaemia/i)
    t.equal(await dx.locator('.sev-urgent').first().evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(188, 76, 0)', 'urgent is orange')
    t.equal(await dx.evaluate((e) => getComputedStyle(e).borderLeftColor), 'rgb(188, 76, 0)')
    await dx.getByText(/Readings behind it/).click()
    const cause = f.reader.diagnoses[0]!.causes[0]!
    t.equal(await dx.locator('.causes code').first().getAttribute('title'), toHex(txId(cause)), 'linked to its tx_IoT')
    t.equal(await page.locator('#balance').innerText(), '1250', 'Healthcoin balance')
    t.match(await page.locator('#payments tbody tr').first().innerText(), /Dr\. AI \(NEWS2\)[^]*250[^]*confirmed/, 'the payment to the AI doctor, named from the registry')
    t.ok(await page.locator('figure.chart svg').count() >= 2, 'vitals charts drawn')
    t.match(await page.locator('figure.chart').first().innerText(), /Heart rate|SpO₂/)
    t.equal(await page.locator('#granted li').count(), 2, 'two doctors with access')
    await shot(page, 'patient')
    t.same(await axe(page), [], 'patient page: no WCAG 2 A/AA violations (axe-core)')

    // the doctor page: review queue, amend and sign
    await page.getByRole('link', { name: 'Doctor' }).click()
    await page.waitForURL(`${s.web.url}/doctor`)
    t.equal(await page.locator('#patients > li').count(), 1, 'one patient')
    t.ok(await page.locator('#patients figure.chart svg').count() >= 2, 'the doctor sees the patient\'s vitals, decrypted by its DoctorNode')
    t.match(await page.locator('#patients .alerts').innerText(), /SpO2 85 % sustained/, 'and the alert')
    const review = page.locator('article.review').first()
    await review.waitFor()
    t.match(await review.innerText(), /URGENT[^]*hypoxaemia/, 'the most severe review comes first')
    const queued = await page.locator('article.review').count()
    await shot(page, 'doctor')
    t.same(await axe(page), [], 'doctor page: no WCAG 2 A/AA violations (axe-core)')
    await review.getByLabel('Severity').selectOption('emergency')
    await review.getByLabel('Note to the patient').fill('Please call me today.')
    await review.getByRole('button', { name: 'Amend and sign' }).click()
    await page.getByRole('status').filter({ hasText: 'amended and signed' }).waitFor()
    t.equal(await page.locator('article.review').count(), queued - 1, 'it left the queue')
    t.equal(f.reader.diagnoses.at(-1)!.diagnosis.note, 'Please call me today.', 'the patient node read the signed diagnosis')

    // the patient sees it, then revokes the human doctor
    await page.getByRole('link', { name: 'Patient' }).click()
    await page.locator('article.diagnosis .sev-emergency').first().waitFor()
    t.match(await page.locator('article.diagnosis').first().innerText(), /Please call me today\./)
    const human = page.locator(`#granted li[data-doctor="${toHex(f.human.id)}"]`)
    t.equal(await human.count(), 1)
    await human.getByRole('button', { name: /Revoke/ }).click()
    await page.getByRole('status').filter({ hasText: 'was revoked' }).waitFor()
    t.equal(await page.locator(`#granted li[data-doctor="${toHex(f.human.id)}"]`).count(), 0, 'gone from the granted list')
    t.equal(await page.locator(`#available li[data-doctor="${toHex(f.human.id)}"]`).count(), 1, 'listed as grantable again')
    t.same(f.humanNode.keys.patientsGranted(), [], 'the doctor node lost access')

    // the doctor page no longer lists the patient
    const docPage = await ctx.newPage()
    t.teardown(() => docPage.close())
    await docPage.goto(`${s.web.url}/doctor`)
    await docPage.getByText('No patient has granted you access.').waitFor()
    t.pass('the doctor page lost the patient')

    // a new abnormal episode: the open patient page shows the alert and the AI diagnosis without a reload
    const before = await page.locator('article.diagnosis').count()
    const waiting = f.humanNode.reviewQueue.length
    await f.publishBatch(trace(T0 + 900_000, 30, 84, 118))
    await page.locator('article.diagnosis').nth(before).waitFor({ timeout: 20_000 })
    t.equal(await page.locator('article.diagnosis').count(), before + 1, 'the new diagnosis appeared live')
    await page.locator('.alerts li').filter({ hasText: 'SpO2' }).first().waitFor()
    t.pass('an alert from the hub\'s local analysis is shown')
    t.equal(f.humanNode.reviewQueue.length, waiting, 'the revoked doctor got nothing new to review')
    await shot(page, 'patient-after')

    // on a phone screen
    await page.setViewportSize({ width: 390, height: 844 })
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
    t.ok(overflow <= 0, `no horizontal scrolling on a phone (overflow ${overflow}px)`)
    await shot(page, 'patient-phone')

    t.same(problems, [], 'no console errors, CSP violations or requests off the hub')
    t.comment(`screenshots in ${dir}`)
  })
}
