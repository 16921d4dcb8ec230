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

  /** Words for staff or for the protocol that a patient page must not show (a glossary page explains them). */
  const JARGON = ['ward-based', 'NEWS2', 'tx_diag', 'tx_IoT', 'tx_key', 'Dblock', 'Ublock', 'epoch', 'Docchain', 'Userchain', 'htx', 'hypoxaemia', 'tachycardia', 'SNOMED', 'registered nurse', 'clinical response', 'mempool']
  /** The visible text of a page (closed disclosures are not rendered, so not in it). */
  const visibleText = async (page: Page): Promise<string> => await page.locator('main').innerText()
  const jargonIn = (text: string): string[] => JARGON.filter((w) => text.toLowerCase().includes(w.toLowerCase()))
  /** The SpO₂ percentages a text prints ("SpO₂ 84 %", "blood oxygen stayed low (84 %)"). */
  const spo2In = (text: string): string[] => [...text.matchAll(/(?:SpO₂|blood oxygen)[^%\d]{0,40}(\d+) %/g)].map((m) => m[1]!)
  /** Elements wider than the viewport or than their card, at the current size. */
  const overflowing = async (page: Page): Promise<string[]> => await page.evaluate(`(() => {
    const out = []
    const w = document.documentElement.clientWidth
    if (document.documentElement.scrollWidth > w) out.push('page ' + document.documentElement.scrollWidth + ' > ' + w)
    for (const c of document.querySelectorAll('.card, article, section, figure, table')) {
      const r = c.getBoundingClientRect()
      if (r.right > w + 0.5 || r.left < -0.5) out.push((c.id || c.className || c.tagName) + ' ' + Math.round(r.left) + '..' + Math.round(r.right))
      if (c.scrollWidth > c.clientWidth + 1 && getComputedStyle(c).overflowX === 'visible') out.push((c.id || c.className || c.tagName) + ' content ' + c.scrollWidth + ' > ' + c.clientWidth)
    }
    return out
  })()`) as string[]

  t.test('patient and doctor pages in Chromium: one desaturation is one episode card on each page', async (t) => {
    const f = s.fixture
    const page = await ctx.newPage()
    t.teardown(() => page.close())
    await page.goto(`${s.web.url}/patient`)
    await page.getByLabel('User name').fill('admin')
    await page.getByLabel('Password').fill(s.password)
    await page.getByRole('button', { name: 'Log in' }).click()
    await page.waitForURL(`${s.web.url}/patient`)
    t.pass('logged in and back on the patient page')

    // one desaturation in three batches: the AI doctor signed when it opened and when a new finding came, nothing per batch
    const signedByAi = f.events.filter((e) => e.type === 'submitted').length
    t.equal(signedByAi, 2, 'the AI doctor signed 2 diagnoses for the 3 abnormal batches (opened, new finding)')
    t.equal(f.reader.diagnoses.length, 2)
    const cards = page.locator('article.episode')
    await cards.first().waitFor()
    t.equal(await cards.count(), 1, 'one episode card on the patient page')
    const card = cards.first()
    t.match(await card.getByRole('heading').innerText(), /URGENT\s+Low blood oxygen, Fast heartbeat/i, 'named in plain words')
    t.equal(await card.locator('.sev-urgent').first().evaluate((e) => getComputedStyle(e).backgroundColor), 'rgb(188, 76, 0)', 'urgent is orange')
    t.equal(await card.evaluate((e) => getComputedStyle(e).borderLeftColor), 'rgb(188, 76, 0)')
    t.match(await card.locator('.todo').innerText(), /What to do:/)
    t.match(await card.locator('.call').innerText(), /Whom to call: Dr\. AI/)
    t.equal(await card.locator('.timeline li').count(), 2, 'its timeline: started, something new')

    // one number for SpO₂: the alert, the tile and the diagnosis
    const alert = spo2In(await page.locator('.alerts li[data-code="hypoxaemia"]').innerText())
    const tile = (await page.locator('figure.chart .latest[data-type="spo2"]').innerText()).match(/^(\d+) %$/)?.[1]
    const seen = spo2In(await card.locator('.seen').innerText())
    await card.locator('details.clinical > summary').click()
    const clinical = spo2In(await card.locator('details .clinical-item').last().innerText())
    t.ok(alert.length === 1 && tile !== undefined && seen.length === 1 && clinical.length >= 1, `SpO₂ shown in alert ${alert}, tile ${tile}, diagnosis ${seen} / ${clinical}`)
    t.same(new Set([...alert, tile, ...seen, ...clinical]).size, 1, 'the same SpO₂ everywhere')
    t.match(await card.locator('details.clinical').innerText(), /NEWS2 \d[^]*ward-based/, 'the clinical text is behind the disclosure')
    await card.getByText(/Readings behind it/).first().click()
    const cause = f.reader.diagnoses[0]!.causes[0]!
    t.equal(await card.locator('.causes code').first().getAttribute('title'), toHex(txId(cause)), 'linked to its tx_IoT')
    await card.locator('details.clinical > summary').click()

    t.equal(await page.locator('#balance').innerText(), '6,546 HC', 'Healthcoin in HC, its decimals defined once')
    t.match(await page.locator('#payments tbody tr').first().innerText(), /Dr\. AI[^]*0\.25 HC[^]*0\.001 HC[^]*confirmed/, 'the payment to the AI doctor, named from the registry, in HC')
    t.ok(await page.locator('figure.chart svg').count() >= 2, 'vitals charts drawn')
    const spo2Chart = page.locator('figure.chart').filter({ has: page.locator('.latest[data-type="spo2"]') }).locator('svg')
    const ticks = (await spo2Chart.locator('text').allTextContents()).map((x) => x.trim())
    t.ok(ticks.includes('80') && ticks.includes('100'), `SpO₂ on its clinical range 80–100 % (${ticks.join(' ')})`)
    t.ok(ticks.every((x) => !/\.\d{3,}/.test(x)), 'no tick like 36.800000')
    const times = ticks.filter((x) => /^\d\d:\d\d$/.test(x))
    t.equal(new Set(times).size, times.length, `no repeated time labels (${times.join(' ')})`)
    t.equal(await page.locator('#granted li').count(), 2, 'two doctors with access')
    t.same(jargonIn(await visibleText(page)), [], 'no clinical or protocol jargon on the patient page')
    t.equal(await page.getByRole('link', { name: /technical words mean/ }).getAttribute('href'), '/glossary', 'a glossary for the curious')
    await shot(page, 'patient')
    t.same(await axe(page), [], 'patient page: no WCAG 2 A/AA violations (axe-core)')
    // alerts out: the webhook set up; its test button says on the page why it failed, and the failure is counted
    const hook = page.locator('#alert-channels li[data-channel="webhook"]')
    t.match(await hook.innerText(), /0 sent, 0 failed attempts/, 'the webhook channel with its counters')
    await hook.getByRole('button', { name: 'Send a test' }).click()
    await page.waitForURL(`${s.web.url}/patient`)
    t.match(await page.locator('#flash.flash-error').innerText(), /webhook: http:\/\/127\.0\.0\.1:9\/alerts/, 'the test\'s failure is shown with the reason')
    t.match(await page.locator('#alert-channels li[data-channel="webhook"]').innerText(), /1 failed attempts/, 'and counted')

    // the doctor page: the same episode is one card to review, NEWS2 and the clinical text first
    await page.getByRole('link', { name: 'Doctor' }).click()
    await page.waitForURL(`${s.web.url}/doctor`)
    t.equal(await page.locator('#patients > li').count(), 1, 'one patient')
    t.ok(await page.locator('#patients figure.chart svg').count() >= 2, 'the doctor sees the patient\'s vitals, decrypted by its DoctorNode')
    t.equal(spo2In(await page.locator('#patients .alerts').innerText())[0], tile, 'and the alert, with the same number')
    t.match(await page.locator('#batching').innerText(), /batch/, 'it says the data is delayed by batching')
    t.equal(f.humanNode.reviewQueue.length, 2, 'the human doctor has two reviews of the episode (opened, new finding)')
    const reviews = page.locator('article.review')
    t.equal(await reviews.count(), 1, 'one episode card to review on the doctor page')
    const review = reviews.first()
    t.match(await review.getByRole('heading').innerText(), /URGENT\s+NEWS2 \d+ · hypoxaemia, tachycardia/, 'NEWS2 and the findings first')
    t.match(await review.innerText(), /signing also covers 1 earlier review/)
    await shot(page, 'doctor')
    t.same(await axe(page), [], 'doctor page: no WCAG 2 A/AA violations (axe-core)')
    await review.getByLabel('Severity').selectOption('emergency')
    await review.getByLabel('Note to the patient').fill('Please call me today.')
    await review.getByRole('button', { name: 'Amend and sign' }).click()
    await page.getByRole('status').filter({ hasText: 'amended and signed' }).waitFor()
    t.equal(await page.locator('article.review').count(), 0, 'the episode left the queue')
    t.equal(f.humanNode.reviewQueue.length, 0, 'with its earlier review')
    const signed = f.reader.diagnoses.at(-1)!
    t.equal(signed.diagnosis.note, 'Please call me today.', 'the patient node read the signed diagnosis')
    t.equal(signed.causes.length, 2, 'citing the batches of both reviews')

    // the patient sees it in the same card
    await page.getByRole('link', { name: 'Patient' }).click()
    await page.locator('article.episode .sev-emergency').first().waitFor()
    t.equal(await page.locator('article.episode').count(), 1, 'still one card: the doctor\'s diagnosis joined the episode')
    t.match(await page.locator('article.episode').first().innerText(), /Whom to call: The emergency number[^]*Please call me today\./)

    // recovery closes the episode: a resolution for the patient, a review for the human doctor
    await f.publishBatch(trace(T0 + 600_000, 10, 97, 72))
    await page.locator('article.episode .meta').filter({ hasText: 'back to normal' }).waitFor({ timeout: 20_000 })
    t.equal(await page.locator('article.episode').count(), 1, 'the resolution joined the card')
    t.equal(f.humanNode.reviewQueue.length, 1, 'the human doctor has the resolution to review')

    // the patient revokes the human doctor: its unsigned review is dropped, what it signed stays
    const human = page.locator(`#granted li[data-doctor="${toHex(f.human.id)}"]`)
    await human.getByRole('button', { name: /Revoke/ }).click()
    await page.getByRole('status').filter({ hasText: 'was revoked' }).waitFor()
    t.equal(await page.locator(`#granted li[data-doctor="${toHex(f.human.id)}"]`).count(), 0, 'gone from the granted list')
    t.equal(await page.locator(`#available li[data-doctor="${toHex(f.human.id)}"]`).count(), 1, 'listed as grantable again')
    t.same(f.humanNode.keys.patientsGranted(), [], 'the doctor node lost access')
    const docPage = await ctx.newPage()
    t.teardown(() => docPage.close())
    await docPage.goto(`${s.web.url}/doctor`)
    await docPage.getByText('No patient has granted you access.').waitFor()
    t.match(await docPage.locator('#revoked').innerText(), /revoked your access[^]*1 review not yet signed was dropped; what you signed before stays signed/, 'the doctor page says the patient revoked')
    t.equal(await docPage.locator('#queue-count').innerText(), '0', 'and nothing of theirs is left to review')
    t.equal(await docPage.locator('#signed li').count(), 1, 'the signed diagnosis is still listed')

    // a new desaturation: a second card, live, without a reload
    const waiting = f.humanNode.reviewQueue.length
    await f.publishBatch(trace(T0 + 900_000, 10, 84, 118))
    await page.locator('article.episode').nth(1).waitFor({ timeout: 20_000 })
    t.equal(await page.locator('article.episode').count(), 2, 'a new episode, a new card, shown live')
    await page.locator('.alerts li').filter({ hasText: 'SpO₂' }).first().waitFor()
    t.pass('an alert from the hub\'s local analysis is shown')
    t.equal(f.humanNode.reviewQueue.length, waiting, 'the revoked doctor got nothing new to review')
    await shot(page, 'patient-after')

    // on a phone screen
    for (const [p, name] of [[page, 'patient'], [docPage, 'doctor']] as const) {
      await p.setViewportSize({ width: 360, height: 780 })
      await p.reload()
      t.same(await overflowing(p), [], `${name} page: nothing overflows at 360 px`)
      t.same(await axe(p), [], `${name} page at 360 px: no WCAG 2 A/AA violations`)
      await shot(p, `${name}-phone`)
    }
    t.same(jargonIn(await visibleText(page)), [], 'no jargon on the patient page at the end either')

    t.same(problems, [], 'no console errors, CSP violations or requests off the hub')
    t.comment(`screenshots in ${dir}`)
  })
}
