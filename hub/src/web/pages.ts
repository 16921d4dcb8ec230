/**
 * The pages' HTML, rendered on the hub from the page views of
 * model.ts. Accessible markup (WCAG 2.2: landmarks, headings, labels,
 * severity as text and colour, live region for messages), no inline script
 * or style (the Content-Security-Policy allows only 'self'), and a layout
 * that reflows to a phone screen. Pure functions of their input.
 */
import { html, raw, type Html, type Part } from './html.ts'
import type { Chart } from './charts.ts'
import { formatHealthcoin } from '../core/index.ts'
import { groupByEpisode, type EpisodeChange } from '../ai/episodes.ts'
import { plainName, plainSummary } from '../ai/plain.ts'
import { vitalOf, vitalText } from '../ai/units.ts'
import { SEVERITIES, type AlertView, type CauseView, type DiagnosisView, type DoctorEmergencyView, type DoctorPage, type DoctorView, type FindingView, type PatientPage, type ReviewView, type Severity } from './model.ts'
import type { Flash } from './session.ts'

export interface Frame {
  /** Mount path of the router ('' at the root). */
  readonly base: string
  readonly csrf: string
  readonly user?: string
  readonly flash?: Flash
  /** Which pages exist on this server. */
  readonly pages: { readonly patient: boolean, readonly doctor: boolean }
  readonly current?: 'patient' | 'doctor'
  /** Standing warnings about the hub's set-up (e.g. a listener without TLS). */
  readonly warnings?: readonly string[]
}

export function short (hex: string): string { return hex.length > 16 ? `${hex.slice(0, 8)}…${hex.slice(-4)}` : hex }

/**
 * A moment in the hub's local time zone (the hub sits with the patient);
 * app.js rewrites it to the browser's own zone. The machine-readable
 * datetime is UTC.
 */
function time (ms: number): Html {
  if (!Number.isFinite(ms) || ms <= 0) return html`<span>—</span>`
  const d = new Date(ms)
  const text = d.toLocaleString('en-GB', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' })
  return html`<time datetime="${d.toISOString()}">${text}</time>`
}

function severity (s: Severity): Html { return html`<span class="sev sev-${s}">${s}</span>` }

function flash (f: Flash | undefined): Html {
  // the region exists on every page so screen readers announce messages put in it
  return html`<div id="flash" class="flash${f === undefined ? '' : ` flash-${f.kind}`}" role="${f?.kind === 'error' ? 'alert' : 'status'}">${f?.text}</div>`
}

function csrfField (f: Pick<Frame, 'csrf'>): Html { return html`<input type="hidden" name="_csrf" value="${f.csrf}">` }

export function layout (f: Frame, title: string, main: Html): Html {
  const nav = f.user === undefined
    ? html``
    : html`<nav aria-label="Pages"><ul>
        ${f.pages.patient ? html`<li><a href="${f.base}/patient"${f.current === 'patient' ? raw(' aria-current="page"') : ''}>Patient</a></li>` : ''}
        ${f.pages.doctor ? html`<li><a href="${f.base}/doctor"${f.current === 'doctor' ? raw(' aria-current="page"') : ''}>Doctor</a></li>` : ''}
      </ul>
      <form method="post" action="${f.base}/logout" class="logout">${csrfField(f)}<button type="submit">Log out ${f.user}</button></form>
    </nav>`
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — Healthchain hub</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${f.base}/static/style.css">
<script src="${f.base}/static/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header><p class="brand">Healthchain hub</p>${nav}</header>
${(f.warnings ?? []).map((w) => html`<p class="flash error" role="alert">Warning: ${w}</p>`)}
${flash(f.flash)}
<main id="main" data-refresh="${f.current === undefined ? '' : `${f.base}/${f.current}?fragment=main`}">
${main}
</main>
</body>
</html>
`
}

export function loginPage (f: Frame, opts: { next?: string, username?: string, error?: string }): Html {
  return layout({ ...f, ...(opts.error === undefined ? {} : { flash: { kind: 'error', text: opts.error } }) }, 'Log in', html`
<h1>Log in</h1>
<form method="post" action="${f.base}/login" class="card login">
  ${csrfField(f)}
  ${opts.next === undefined ? '' : html`<input type="hidden" name="next" value="${opts.next}">`}
  <p><label for="username">User name</label>
  <input id="username" name="username" autocomplete="username" required value="${opts.username ?? ''}"></p>
  <p><label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required></p>
  <p><button type="submit">Log in</button></p>
</form>
<p class="hint">The login was printed when the hub first started; it is stored only as a scrypt hash in the hub's data dir.</p>`)
}

export function errorPage (f: Frame, status: number, message: string): Html {
  return layout(f, `Error ${status}`, html`<h1>Error ${status}</h1><p class="error">${message}</p><p><a href="${f.base}/">Back</a></p>`)
}

function findings (fs: readonly FindingView[]): Html {
  if (fs.length === 0) return html`<p>No abnormal findings.</p>`
  return html`<ul class="findings">${fs.map((x) => html`<li>${severity(x.severity)} <strong>${x.code}</strong>: ${x.text}</li>`)}</ul>`
}

function causes (cs: readonly CauseView[], extra: string): Html {
  return html`<details><summary>Readings behind it (${cs.length} batch${cs.length === 1 ? '' : 'es'}${extra})</summary>
    <ul class="causes">${cs.map((c) => html`<li><code title="${c.htxI}">tx_IoT ${short(c.htxI)}</code>, key epoch ${c.epoch}, ${time(c.ts * 1000)}</li>`)}</ul></details>`
}

function alerts (as: readonly AlertView[]): Html {
  if (as.length === 0) return html`<p>No alerts.</p>`
  return html`<ul class="alerts">${as.map((a) => html`<li class="alert-${a.severity}" data-code="${a.code}">${severity(a.severity)} <span class="alert-text">${a.text}</span> <span class="when">${time(a.at)}</span></li>`)}</ul>`
}

function charts (cs: readonly Chart[]): Html {
  if (cs.length === 0) return html`<p>No readings yet.</p>`
  return html`<div class="charts">${cs.map((c) => html`<figure class="chart card">
    <figcaption><strong>${c.title}</strong> <span class="device">${c.device}</span>
      <span class="latest" data-type="${c.type}" title="${c.latestIs === 'sustained' ? 'sustained value over the last 10 minutes, as in the alerts' : 'latest reading'}">${c.latest}</span>
      <span class="when">${c.latestIs === 'sustained' ? 'sustained, ' : ''}${time(c.at)}</span></figcaption>
    ${raw(c.svg)}
  </figure>`)}</div>`
}

function doctorName (d: DoctorView): Html {
  return html`${d.name ?? 'Doctor'} <code title="${d.id}">${short(d.id)}</code>`
}

/** What an episode's change means, in words. */
const CHANGE_WORDS: Record<EpisodeChange, string> = {
  opened: 'Started', worsened: 'Got worse', 'new-finding': 'Something new was seen', continuing: 'Continued', recovering: 'Improving', resolved: 'Back to normal', normal: 'Normal'
}

interface Dx { readonly d: DiagnosisView, readonly certified: boolean }

/**
 * A patient's diagnoses (certified and preliminary) as episodes: one group
 * per episode; a diagnosis saying again what an earlier one of the
 * episode said (same doctor, change, severity, findings with their values,
 * note) is dropped.
 */
function episodesOf (p: Pick<PatientPage, 'diagnoses' | 'preliminary'>): Array<{ id: string, items: readonly Dx[] }> {
  const all: Dx[] = [...p.diagnoses.map((d) => ({ d, certified: true })), ...p.preliminary.filter((x) => !p.diagnoses.some((y) => y.id === x.id)).map((d) => ({ d, certified: false }))]
  return groupByEpisode(all, (x) => ({ own: x.d.id, ...(x.d.episode === undefined ? {} : { episode: x.d.episode.id }), at: x.d.readings.to }),
    (a, b) => a.d.doctor === b.d.doctor && a.d.episode?.change === b.d.episode?.change && a.d.severity === b.d.severity && a.d.note === b.d.note &&
      a.d.findings.map((f) => f.text).join() === b.d.findings.map((f) => f.text).join())
}

/** The clinical text of one diagnosis (the doctor's voice), shown to the patient behind a disclosure. */
function clinical (base: string, x: Dx): Html {
  const d = x.d
  return html`<div class="clinical-item">
  <p class="meta">${severity(d.severity)} ${d.doctorName ?? 'doctor'} <code title="${d.doctor}">${short(d.doctor)}</code>
    · ${d.status === 'final' ? `reviewed${d.reviewedBy === undefined ? '' : ` by ${d.reviewedBy}`}` : 'AI analysis, not reviewed'} · NEWS2 ${d.news2} · ${x.certified ? `certified in Dblock ${d.dblock}` : 'preliminary: not yet certified on Docchain'}</p>
  ${findings(d.findings)}
  <p>${d.recommendation}</p>
  ${causes(d.causes, `; ${d.readings.count} readings of ${d.readings.types.join(', ') || 'no type'}`)}
  ${x.certified ? html`<p><a href="${base}/patient/diagnoses/${d.id}/fhir" download="diagnostic-report-${d.id.slice(0, 12)}.json">Download FHIR DiagnosticReport</a></p>` : ''}
</div>`
}

/** One episode for the patient: plain words first (what, what to do, whom to call), its timeline, the clinical text behind a disclosure. */
function patientEpisode (base: string, id: string, items: readonly Dx[], doctorToCall: string): Html {
  const last = items[items.length - 1]!.d
  const resolved = last.episode?.change === 'resolved'
  const worst = items.reduce((a, b) => SEVERITIES.indexOf(b.d.severity) > SEVERITIES.indexOf(a.d.severity) ? b : a).d
  const codes = [...new Set(items.flatMap((x) => x.d.findings.map((f) => f.code)))]
  // the latest abnormal diagnosis says what was seen: its values are those of the batch read last, as the alert's
  const seen = plainSummary([...items].reverse().find((x) => x.d.findings.length > 0)?.d ?? worst).seen
  // what to do follows the worst judgement of the episode (a doctor's escalation holds) until it is back to normal
  const now = plainSummary(resolved ? { ...last, severity: 'routine' } : worst, doctorToCall)
  const note = [...items].reverse().find((x) => x.d.note !== undefined)?.d.note
  const opened = last.episode?.opened ?? items[0]!.d.readings.from
  const hid = `ep-${id.slice(0, 16)}`
  return html`<article class="episode card sev-border-${resolved ? 'routine' : worst.severity}" aria-labelledby="${hid}" data-episode="${id}">
  <h3 id="${hid}">${severity(resolved ? 'routine' : worst.severity)} ${codes.length === 0 ? 'Check-up' : codes.map(plainName).join(', ')}</h3>
  <p class="meta">Started ${time(opened)} · ${resolved ? html`back to normal ${time(last.readings.to)}` : 'ongoing'}${items.some((x) => !x.certified) ? ' · not yet confirmed by the network' : ''}</p>
  <p class="seen"><strong>What was seen:</strong> ${seen}</p>
  <p class="todo"><strong>What to do:</strong> ${now.todo}</p>
  <p class="call"><strong>Whom to call:</strong> ${now.call}</p>
  ${note === undefined ? '' : html`<p class="note"><strong>Your doctor's note:</strong> ${note}</p>`}
  <ol class="timeline">${items.map((x) => html`<li>${time(x.d.readings.to)} ${CHANGE_WORDS[x.d.episode?.change ?? 'opened']} — ${x.d.doctorName ?? 'your doctor'}</li>`)}</ol>
  <details class="clinical"><summary>Clinical details (for health professionals)</summary>${items.map((x) => clinical(base, x))}</details>
</article>`
}

/** A section of the patient page: a function of the page's view (another module can add one to PATIENT_SECTIONS). */
export type PatientSection = (f: Frame, p: PatientPage, cs: readonly Chart[]) => Html

function summarySection (_f: Frame, p: PatientPage): Html {
  return html`<section aria-labelledby="summary-h" class="summary card">
  <h2 id="summary-h" class="visually-hidden">Summary</h2>
  <dl>
    <div><dt>Your ID</dt><dd><code title="${p.user}">${short(p.user)}</code></dd></div>
    <div><dt>Healthcoin balance</dt><dd id="balance">${formatHealthcoin(p.balance)}</dd></div>
    <div><dt>Doctors with access</dt><dd>${p.granted.length}</dd></div>
  </dl>
</section>`
}

function alertsSection (_f: Frame, p: PatientPage): Html {
  const urgent = p.alerts.some((a) => a.severity === 'urgent' || a.severity === 'emergency')
  return html`<section aria-labelledby="alerts-h" class="${urgent ? 'card urgent' : 'card'}">
  <h2 id="alerts-h">Alerts</h2>
  <p class="hint">From your hub's own check of the last 10 minutes of readings.</p>
  ${alerts(p.alerts)}
</section>`
}

function vitalsSection (_f: Frame, _p: PatientPage, cs: readonly Chart[]): Html {
  return html`<section aria-labelledby="vitals-h">
  <h2 id="vitals-h">Vitals</h2>
  <p class="hint">The shaded band is the normal range.</p>
  ${charts(cs)}
</section>`
}

function episodesSection (f: Frame, p: PatientPage): Html {
  const eps = episodesOf(p)
  const granted = p.granted.find((d) => d.name !== undefined)
  return html`<section aria-labelledby="dx-h">
  <h2 id="dx-h">Diagnoses</h2>
  ${eps.length === 0 ? html`<p>No diagnoses yet.</p>` : eps.map((e) => patientEpisode(f.base, e.id, e.items, granted?.name ?? 'Your doctor'))}
</section>`
}

function doctorsSection (f: Frame, p: PatientPage): Html {
  return html`<section aria-labelledby="doctors-h" class="card">
  <h2 id="doctors-h">Doctors</h2>
  <h3>With access to your data</h3>
  ${p.granted.length === 0 ? html`<p>No doctor has access.</p>` : html`<ul class="doctors" id="granted">${p.granted.map((d) => html`<li data-doctor="${d.id}">${doctorName(d)}
    <form method="post" action="${f.base}/patient/doctors/revoke">${csrfField(f)}<input type="hidden" name="doctor" value="${d.id}">
    <button type="submit" class="danger" aria-label="Revoke ${d.name ?? 'doctor'} ${short(d.id)}">Revoke</button></form></li>`)}</ul>`}
  <h3>Registered doctors</h3>
  ${p.available.length === 0 ? html`<p>No other registered doctor.</p>` : html`<ul class="doctors" id="available">${p.available.map((d) => html`<li data-doctor="${d.id}">${doctorName(d)}
    <form method="post" action="${f.base}/patient/doctors/grant">${csrfField(f)}<input type="hidden" name="doctor" value="${d.id}">
    <button type="submit" aria-label="Grant ${d.name ?? 'doctor'} ${short(d.id)}">Grant</button></form></li>`)}</ul>`}
  <p class="hint">Revoking makes fresh keys: the doctor keeps what it could already read but nothing new.</p>
</section>`
}

function paymentsSection (_f: Frame, p: PatientPage): Html {
  return html`<section aria-labelledby="payments-h" class="card">
  <h2 id="payments-h">Healthcoin</h2>
  <p>Balance <strong>${formatHealthcoin(p.balance)}</strong>. Doctors diagnose only while you have prepaid.</p>
  ${p.payments.length === 0
    ? html`<p>No payments yet.</p>`
    : html`<table id="payments" class="stack"><caption class="visually-hidden">Payments</caption><thead><tr><th scope="col">To</th><th scope="col">Amount</th><th scope="col">Fee</th><th scope="col">Status</th></tr></thead>
  <tbody>${p.payments.map((x) => html`<tr><td data-label="To">${x.toName ?? ''} <code title="${x.to} (payment ${x.id})">${short(x.to)}</code></td><td data-label="Amount">${formatHealthcoin(x.amount)}</td><td data-label="Fee">${formatHealthcoin(x.fee)}</td><td data-label="Status">${x.confirmed ? 'confirmed' : 'waiting to be confirmed'}</td></tr>`)}</tbody></table>`}
</section>`
}

function devicesSection (_f: Frame, p: PatientPage): Html {
  return html`<section aria-labelledby="devices-h" class="card">
  <h2 id="devices-h">Devices</h2>
  ${p.devices.length === 0
    ? html`<p>No devices registered.</p>`
    : html`<table class="stack" id="devices"><caption class="visually-hidden">Devices</caption><thead><tr><th scope="col">Device</th><th scope="col">Sensors</th><th scope="col">Last seen</th><th scope="col">Accepted</th><th scope="col">Dropped</th></tr></thead>
  <tbody>${p.devices.map((d) => html`<tr><th scope="row" data-label="Device">${d.id}</th><td data-label="Sensors">${d.sensors.join(', ')}</td><td data-label="Last seen">${d.lastSeen === null ? 'never' : time(d.lastSeen)}</td><td data-label="Accepted">${d.accepted}</td><td data-label="Dropped" class="${d.dropped > 0 ? 'warn' : ''}">${d.dropped}${(d.drops ?? []).length === 0 ? '' : html`<ul class="drops">${(d.drops ?? []).map((x) => html`<li><span title="${x.code}">${x.count} × ${x.reason}</span>${x.last === undefined ? '' : html`<br><small>last: ${x.last}</small>`}</li>`)}</ul>`}</td></tr>`)}</tbody></table>`}
</section>`
}

/** The protocol's own state, for the curious: behind a disclosure, with the glossary. */
function technicalSection (f: Frame, p: PatientPage): Html {
  return html`<section aria-labelledby="tech-h" class="card">
  <h2 id="tech-h">How your data is protected</h2>
  <p>Your readings are encrypted on your hub; only the doctors you chose can read them. <a href="${f.base}/glossary">What the technical words mean</a>.</p>
  <details><summary>Technical details</summary><dl class="tech">
    <div><dt>Key epoch</dt><dd>${p.epoch ?? 'none yet'}</dd></div>
    ${(p.pendingEpochs ?? []).map((e) => html`<div class="pending-epoch"><dt>Pending key epoch ${e.epoch}</dt><dd>${e.kind}${e.doctor === undefined ? '' : html` <code title="${e.doctor}">${short(e.doctor)}</code>`}: ${e.accepted ? 'in use, waiting to be mined' : 'waiting for the node to accept it'}${e.reissued > 0 ? ` (issued again ${e.reissued}× after expiring)` : ''}</dd></div>`)}
    <div><dt>Data key last renewed</dt><dd id="key-renewed">${p.keyRenewal.last === null ? 'not yet' : time(p.keyRenewal.last)}</dd></div>
    <div><dt>Next renewal</dt><dd id="key-next">${p.keyRenewal.next === null ? 'not scheduled' : time(p.keyRenewal.next)}</dd></div>
    <div><dt>Your full ID</dt><dd><code>${p.user}</code></dd></div>
  </dl></details>
</section>`
}

/**
 * Emergency access (README "Emergency access"): the patient's choice with
 * its toggle, and every access Docchain audited — who, when, why, which
 * periods of keys, how many accounting nodes released their shares.
 */
export function emergencySection (f: Pick<Frame, 'base' | 'csrf'>, p: Pick<PatientPage, 'emergency'>): Html {
  const e = p.emergency
  if (e === undefined) return html``
  return html`<section aria-labelledby="emergency-h" class="card" id="emergency">
  <h2 id="emergency-h">Emergency access</h2>
  <p>${e.optIn
    ? html`<strong>On.</strong> Each new data key is split among ${e.members} accounting nodes; ${e.threshold} of them open it for an emergency doctor, only after the doctor's request is recorded where everyone can audit it.`
    : html`<strong>Off.</strong> Nobody but you can hand out your data keys.`}</p>
  <form method="post" action="${f.base}/patient/emergency">${csrfField(f)}<input type="hidden" name="optIn" value="${e.optIn ? 'false' : 'true'}">
  <button type="submit"${e.optIn ? raw(' class="danger"') : ''}>${e.optIn ? 'Turn emergency access off' : 'Turn emergency access on'}</button></form>
  ${e.accesses.length === 0
    ? html`<p>No emergency access to your data.</p>`
    : html`<ul id="emergency-accesses">${e.accesses.map((a) => html`<li data-request="${a.id}">Doctor <code title="${a.doctor}">${a.doctor.slice(0, 16)}</code> · ${time((a.committed ?? a.ts) * 1000)} · key periods ${a.epochs.join(', ')}<br>
    <q>${a.reason}</q><br><small>${a.released.length} accounting nodes released their shares</small></li>`)}</ul>`}
  <p class="hint">Your next key renewal ends an emergency access: the doctor keeps what it was given, nothing newer.</p>
</section>`
}

/**
 * Backups (README "Backup and restore"): where and how often the hub backs
 * itself up, the last archive and the next one due, and a button for one now.
 */
export function backupSection (f: Pick<Frame, 'base' | 'csrf'>, p: Pick<PatientPage, 'backup'>): Html {
  const b = p.backup
  if (b === undefined) return html``
  return html`<section aria-labelledby="backup-h" class="card" id="backup">
  <h2 id="backup-h">Backups</h2>
  ${b.schedule === null
    ? html`<p>No scheduled backups. Add <code>"backup": {"dir": "…"}</code> to the hub's config (a USB disk, a share), or run <code>healthchain backup</code>.</p>`
    : html`<p>Every ${b.schedule.everyHours} h into <code>${b.schedule.dir}</code>, the newest ${b.schedule.keep} kept, encrypted under your keystore passphrase.</p>
  <dl><div><dt>Last backup</dt><dd id="backup-last">${b.last === null ? 'none since the hub started' : html`${time(Date.parse(b.last.createdAt))} · <code>${b.last.file}</code>`}</dd></div>
  <div><dt>Next</dt><dd id="backup-next">${b.next === null ? '–' : time(Date.parse(b.next))}</dd></div></dl>
  ${b.lastError === null ? '' : html`<p class="warn" id="backup-error">The last scheduled backup failed: ${b.lastError}</p>`}
  <form method="post" action="${f.base}/patient/backup">${csrfField(f)}<button type="submit">Back up now</button></form>`}
  <p class="hint">A backup holds your keys, devices, logins, flows and the readings not yet on the chain. The chain itself comes back from the network.</p>
</section>`
}

/**
 * Withdrawing consent (README "Withdrawing consent (erasure)"): a clear
 * warning, a confirmation box and typed words, and what remains afterwards
 * and why.
 */
export function erasureSection (f: Pick<Frame, 'base' | 'csrf'>, p: Pick<PatientPage, 'erasure'>): Html {
  if (p.erasure === undefined) return html``
  return html`<section aria-labelledby="erasure-h" class="card" id="erasure">
  <h2 id="erasure-h">Withdraw consent and erase</h2>
  <p class="warn"><strong>This cannot be undone.</strong> The hub signs your withdrawal, records it with the accounting nodes (no emergency doctor can be given your keys again), asks every storage node to delete your data, deletes its own copies, then stops and destroys your keys. This identity never starts a hub again.</p>
  <p>What remains, and why:</p>
  <ul>
    <li>On the chains: the fingerprints (digests) of your encrypted data, your key envelopes and the emergency key shares sealed in them. A blockchain cannot forget what it holds; without your keys they open nothing, and the accounting nodes refuse to open their shares for anyone.</li>
    <li>Diagnoses doctors already wrote, and what a doctor you granted already read: they are the doctors' records.</li>
    <li>Backups you made (they hold your keystore, under your passphrase), and shares of your identity you gave to guardians: destroy or take them back yourself.</li>
  </ul>
  <form method="post" action="${f.base}/patient/erasure">${csrfField(f)}
  <label><input type="checkbox" name="confirm" required> I understand my data becomes unreadable for good.</label>
  <label>Type <q>destroy my data</q>: <input name="words" required autocomplete="off"></label>
  <button type="submit" class="danger">Withdraw consent and erase</button></form>
</section>`
}

/**
 * Alerts out (README "Alerts out"): each channel (Home Assistant over MQTT,
 * e-mail, webhook) with what it sent and why it failed, a test button each,
 * and the settings form (secrets never shown: an empty field keeps them).
 */
export function alertsOutSection (f: Pick<Frame, 'base' | 'csrf'>, p: Pick<PatientPage, 'alertsOut'>): Html {
  const a = p.alertsOut
  if (a === undefined) return html``
  const s = a.settings as { minSeverity?: string, silentMinutes?: number, mqtt?: { url?: string, username?: string }, email?: { host?: string, port?: number, secure?: boolean, username?: string, from?: string, to?: string[] }, webhook?: { url?: string } }
  const names: Record<string, string> = { mqtt: 'Home Assistant (MQTT)', email: 'E-mail', webhook: 'Webhook' }
  const field = (name: string, label: string, value: string | number | undefined, type = 'text'): Html => html`<label>${label} <input name="${name}" type="${type}" value="${value ?? ''}" autocomplete="off"></label>`
  return html`<section aria-labelledby="alerts-out-h" class="card" id="alerts-out">
  <h2 id="alerts-out-h">Alerts out</h2>
  <p>Urgent findings, preliminary findings (severity ${s.minSeverity ?? 'low'} and above) and sensors silent for ${s.silentMinutes ?? 0} minutes go out to:</p>
  <ul id="alert-channels">${Object.entries(a.channels).map(([n, c]) => html`<li data-channel="${n}">${names[n] ?? n}: ${c.configured
    ? html`${c.sent ?? 0} sent, ${c.failed ?? 0} failed attempts, ${c.gaveUp ?? 0} given up${(c.queued ?? 0) > 0 ? html`, ${c.queued} waiting` : ''}${c.lastError === undefined ? '' : html`<br><small class="error">last error${c.lastErrorAt === undefined ? '' : html` ${time(c.lastErrorAt)}`}: ${c.lastError}</small>`}
    <form method="post" action="${f.base}/patient/alerts/test" class="inline">${csrfField(f)}<input type="hidden" name="channel" value="${n}"><button type="submit">Send a test</button></form>`
    : 'not set up'}</li>`)}</ul>
  <details><summary>Settings</summary>
  <form method="post" action="${f.base}/patient/alerts">${csrfField(f)}
  <label>Lowest severity sent <select name="minSeverity">${['low', 'urgent', 'emergency'].map((x) => html`<option${x === s.minSeverity ? raw(' selected') : ''}>${x}</option>`)}</select></label>
  ${field('silentMinutes', 'Silent sensor after (minutes, 0: never)', s.silentMinutes, 'number')}
  <fieldset><legend>Home Assistant (MQTT discovery)</legend>${field('mqttUrl', 'Broker URL (mqtt://…)', s.mqtt?.url)}${field('mqttUsername', 'User', s.mqtt?.username)}${field('mqttPassword', 'Password (empty: keep)', undefined, 'password')}</fieldset>
  <fieldset><legend>E-mail (SMTP)</legend>${field('emailHost', 'Server', s.email?.host)}${field('emailPort', 'Port', s.email?.port, 'number')}<label><input type="checkbox" name="emailSecure"${s.email?.secure === true ? raw(' checked') : ''}> TLS from the start (port 465)</label>${field('emailUsername', 'User', s.email?.username)}${field('emailPassword', 'Password (empty: keep)', undefined, 'password')}${field('emailFrom', 'From', s.email?.from)}${field('emailTo', 'To (comma-separated)', s.email?.to?.join(', '))}</fieldset>
  <fieldset><legend>Webhook</legend>${field('webhookUrl', 'URL (https://…)', s.webhook?.url)}${field('webhookSecret', 'Signing secret (empty: keep)', undefined, 'password')}</fieldset>
  <button type="submit">Save alert settings</button></form></details>
  <p class="hint">An empty address turns a channel off. Passwords and the webhook secret are kept encrypted on the hub; a channel that fails is retried with growing pauses, and its failures are counted here.</p>
</section>`
}

/** The patient page, section by section, in this order. */
export const PATIENT_SECTIONS: PatientSection[] = [summarySection, alertsSection, episodesSection, vitalsSection, doctorsSection, emergencySection, alertsOutSection, paymentsSection, devicesSection, backupSection, erasureSection, technicalSection]

export function patientMain (f: Frame, p: PatientPage, cs: readonly Chart[], sections: readonly PatientSection[] = PATIENT_SECTIONS): Html {
  return html`
<h1>Patient</h1>
${sections.map((s) => s(f, p, cs))}`
}

const GLOSSARY: ReadonlyArray<[string, string]> = [
  ['Healthcoin (HC)', 'The credit you prepay so doctors can diagnose your readings. 1 HC = 1,000,000 units on the chain.'],
  ['Batch', 'Your hub seals a few seconds to minutes of readings together before sending them; doctors see them a batch at a time.'],
  ['Key epoch', 'A period with one set of encryption keys. Granting or revoking a doctor starts a new one.'],
  ['tx_key, tx_IoT, tx_diag', 'The records on the chains: who may read your data, where a sealed batch is stored, a doctor\'s signed diagnosis.'],
  ['Userchain, Docchain, Ublock, Dblock', 'The two ledgers (and their blocks) that keep those records in order and tamper-evident.'],
  ['Preliminary', 'A diagnosis signed by a doctor that the network has not confirmed yet.'],
  ['NEWS2', 'The National Early Warning Score 2, a score clinicians use to judge how unwell someone is from their vital signs.'],
  ['Episode', 'A stretch of time when your readings were out of the normal range, from start to back to normal; shown as one card.']
]

export function glossaryPage (f: Frame): Html {
  return layout(f, 'Glossary', html`<h1>Glossary</h1><dl class="glossary card">${GLOSSARY.map(([t, d]) => html`<dt>${t}</dt><dd>${d}</dd>`)}</dl>`)
}

function severityOptions (current: Severity): Html {
  return html`${SEVERITIES.map((s) => html`<option value="${s}"${s === current ? raw(' selected') : ''}>${s}</option>`)}`
}

const OBS_NAMES: Readonly<Record<string, string>> = { respRate: 'RR', spo2: 'SpO₂', onOxygen: 'O₂', systolic: 'SBP', pulse: 'HR', temperature: 'T' }

/** An analyzer observation as every page prints it (units.ts). */
function observationText (k: string, v: unknown): string {
  const vital = vitalOf(k as keyof ReviewView['observations'])
  return vital !== undefined && typeof v === 'number' ? vitalText(vital, v) : String(v)
}

/** One episode waiting for the doctor: NEWS2 and the clinical text first; signing it signs the episode (its earlier reviews with it). */
function reviewArticle (f: Frame, r: ReviewView, earlier: readonly ReviewView[]): Html {
  const obs = Object.entries(r.observations).filter(([, v]) => v !== undefined)
  return html`<article class="review card sev-border-${r.severity}" aria-labelledby="rv-${r.id}" data-review="${r.id}"${r.episode === undefined ? '' : raw(` data-episode="${r.episode.id}"`)}>
  <h3 id="rv-${r.id}">${severity(r.severity)} NEWS2 ${r.news2} · ${r.findings.length === 0 ? 'no finding' : r.findings.map((x) => x.code).join(', ')} · patient <code title="${r.user}">${short(r.user)}</code></h3>
  ${obs.length === 0 ? '' : html`<p class="obs">${obs.map(([k, v]) => html`<span>${OBS_NAMES[k] ?? k} <strong>${observationText(k, v)}</strong></span> `)}</p>`}
  ${findings(r.findings)}
  <p class="recommendation">${r.recommendation}</p>
  <p class="meta">Episode ${r.episode === undefined ? '—' : html`open since ${time(r.episode.opened)}, this review: ${CHANGE_WORDS[r.episode.change].toLowerCase()}`} · ${r.readings.count} readings, ${time(r.readings.from)} – ${time(r.readings.to)}${earlier.length === 0 ? '' : ` · signing also covers ${earlier.length} earlier review${earlier.length === 1 ? '' : 's'} of this episode`}</p>
  ${earlier.length === 0 ? '' : html`<ol class="timeline">${earlier.map((e) => html`<li>${time(e.readings.to)} ${e.episode === undefined ? '' : CHANGE_WORDS[e.episode.change]}: ${severity(e.severity)} NEWS2 ${e.news2}</li>`)}</ol>`}
  ${causes([...earlier.flatMap((e) => e.causes), ...r.causes], '')}
  <div class="actions">
    <form method="post" action="${f.base}/doctor/reviews/${r.id}/sign">${csrfField(f)}
      <button type="submit">Sign as is</button></form>
    <form method="post" action="${f.base}/doctor/reviews/${r.id}/sign" class="amend">${csrfField(f)}
      <p><label for="sev-${r.id}">Severity</label>
      <select id="sev-${r.id}" name="severity">${severityOptions(r.severity)}</select></p>
      <p><label for="note-${r.id}">Note to the patient</label>
      <textarea id="note-${r.id}" name="note" rows="2" maxlength="2000"></textarea></p>
      <button type="submit">Amend and sign</button></form>
    <p><a href="${f.base}/doctor/reviews/${r.id}/fhir" download="diagnostic-report-${r.id.slice(0, 12)}.json">Download FHIR DiagnosticReport</a></p>
  </div>
</article>`
}

/** `patientCharts[i]` are the charts of `d.patients[i]`. */
export function doctorMain (f: Frame, d: DoctorPage, patientCharts: readonly (readonly Chart[])[] = []): Html {
  // one card per episode (the latest review, to sign), newest first within a severity
  const episodes = groupByEpisode(d.queue, (r) => ({ own: r.id, ...(r.episode === undefined ? {} : { episode: `${r.user}:${r.episode.id}` }), at: r.readings.to }))
    .map((g) => ({ last: g.items[g.items.length - 1]!, earlier: g.items.slice(0, -1) }))
    .sort((a, b) => SEVERITIES.indexOf(b.last.severity) - SEVERITIES.indexOf(a.last.severity))
  return html`
<h1>Doctor</h1>
<section aria-labelledby="me-h" class="summary card">
  <h2 id="me-h" class="visually-hidden">Summary</h2>
  <dl>
    <div><dt>Doctor</dt><dd>${d.name} <code title="${d.doctor}">${short(d.doctor)}</code></dd></div>
    <div><dt>Patients</dt><dd>${d.patients.length}</dd></div>
    <div><dt>To review</dt><dd id="queue-count">${episodes.length}</dd></div>
  </dl>
</section>
${d.revoked.length === 0 ? '' : html`<section aria-labelledby="revoked-h" class="card" id="revoked">
  <h2 id="revoked-h">Access revoked</h2>
  <ul>${d.revoked.map((r) => html`<li><code title="${r.user}">${short(r.user)}</code> revoked your access (seen ${time(r.at)}): ${r.dropped} review${r.dropped === 1 ? '' : 's'} not yet signed ${r.dropped === 1 ? 'was' : 'were'} dropped; what you signed before stays signed.</li>`)}</ul>
</section>`}
<section aria-labelledby="queue-h">
  <h2 id="queue-h">Diagnoses to review</h2>
  ${episodes.length === 0 ? html`<p>Nothing to review.</p>` : episodes.map((e) => reviewArticle(f, e.last, e.earlier))}
</section>
<section aria-labelledby="patients-h" class="card">
  <h2 id="patients-h">Patients who granted you access</h2>
  <p class="hint" id="batching">Readings reach you in batches from the patient's hub once they are on Userchain, so this page can be up to one batch window behind what the patient sees.</p>
  ${d.patients.length === 0 ? html`<p>No patient has granted you access.</p>` : html`<ul id="patients">${d.patients.map((p, i) => html`<li data-user="${p.user}">
    <h3>${p.name ?? 'Patient'} <code title="${p.user}">${short(p.user)}</code></h3>
    <p class="meta">Newest reading ${p.readings.length === 0 ? 'none yet' : time(p.readings[0]!.at)} (delayed by batching) · key epoch ${p.latestEpoch} (keys for ${p.epochs.length} epoch${p.epochs.length === 1 ? '' : 's'}) · ${p.readings.length} recent readings</p>
    <h4>Alerts</h4>
    ${alerts(p.alerts)}
    <h4 class="visually-hidden">Recent vitals</h4>
    ${charts(patientCharts[i] ?? [])}
  </li>`)}</ul>`}
</section>
<section aria-labelledby="signed-h" class="card">
  <h2 id="signed-h">Signed</h2>
  ${d.signed.length === 0 ? html`<p>None yet.</p>` : html`<ul id="signed">${d.signed.map((s) => html`<li>${severity(s.severity)} <code title="${s.id}">tx_diag ${short(s.id)}</code> for <code title="${s.user}">${short(s.user)}</code> ${time(s.at)}</li>`)}</ul>`}
</section>
${(d.emergency ?? []).length === 0 ? '' : doctorEmergencySection(d.emergency!)}`
}

/** The emergency accesses a doctor asked (README "Emergency access"): what it read, and that it does not diagnose. */
function doctorEmergencySection (list: readonly DoctorEmergencyView[]): Html {
  return html`<section aria-labelledby="emergency-h" class="card" id="emergency">
  <h2 id="emergency-h">Emergency accesses</h2>
  <ul id="emergency-accesses">${list.map((a) => html`<li data-request="${a.id}">Patient <code title="${a.patient}">${short(a.patient)}</code> · ${time(a.ts * 1000)} · epochs ${a.epochs.join(', ')} · ${a.status}: ${a.released.length} of ${a.threshold} releases<br>
    <q>${a.reason}</q>${a.status !== 'open' ? '' : html`<br><small>${a.batches.length} batch(es), ${a.batches.reduce((n, b) => n + b.readings, 0)} readings read${a.analysis === undefined ? '' : html` · ${severity(a.analysis.severity)} NEWS2 ${a.analysis.news2}`}</small>`}${a.problem === undefined ? '' : html`<br><small class="warn">${a.problem}</small>`}</li>`)}</ul>
  <p class="hint">An emergency access reads the patient's data of the epochs asked; it does not diagnose: the escrow holds no diagnosis key.</p>
</section>`
}

export type { Part }
