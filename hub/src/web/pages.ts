/**
 * The pages' HTML, rendered on the hub from the page views of
 * model.ts. Accessible markup (WCAG 2.2: landmarks, headings, labels,
 * severity as text and colour, live region for messages), no inline script
 * or style (the Content-Security-Policy allows only 'self'), and a layout
 * that reflows to a phone screen. Pure functions of their input.
 */
import { html, raw, type Html, type Part } from './html.ts'
import type { Chart } from './charts.ts'
import { SEVERITIES, type AlertView, type CauseView, type DiagnosisView, type DoctorEmergencyView, type DoctorPage, type DoctorView, type EmergencyView, type FindingView, type PatientPage, type ReviewView, type Severity } from './model.ts'
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

function time (ms: number): Html {
  if (!Number.isFinite(ms) || ms <= 0) return html`<span>—</span>`
  const iso = new Date(ms).toISOString()
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`
}

function severity (s: Severity): Html { return html`<span class="sev sev-${s}">${s}</span>` }

function flash (f: Flash | undefined): Html {
  // the region exists on every page so screen readers announce messages put in it
  return html`<div id="flash" class="flash${f === undefined ? '' : ` flash-${f.kind}`}" role="${f?.kind === 'error' ? 'alert' : 'status'}">${f?.text}</div>`
}

function csrfField (f: Frame): Html { return html`<input type="hidden" name="_csrf" value="${f.csrf}">` }

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

function readingsRange (r: DiagnosisView['readings']): string {
  return `; ${r.count} readings of ${r.types.join(', ') || 'no type'}`
}

function alerts (as: readonly AlertView[]): Html {
  if (as.length === 0) return html`<p>No alerts.</p>`
  return html`<ul class="alerts">${as.map((a) => html`<li class="alert-${a.severity}">${severity(a.severity)} ${a.text} <span class="when">${time(a.at)}</span></li>`)}</ul>`
}

function charts (cs: readonly Chart[]): Html {
  if (cs.length === 0) return html`<p>No readings yet.</p>`
  return html`<div class="charts">${cs.map((c) => html`<figure class="chart card">
    <figcaption><strong>${c.title}</strong> <span class="device">${c.device}</span>
      <span class="latest" data-type="${c.type}">${c.latest}</span> <span class="when">${time(c.at)}</span></figcaption>
    ${raw(c.svg)}
  </figure>`)}</div>`
}

function doctorName (d: DoctorView): Html {
  return html`${d.name ?? 'Doctor'} <code title="${d.id}">${short(d.id)}</code>`
}

function diagnosisArticle (base: string, d: DiagnosisView): Html {
  return html`<article class="diagnosis card sev-border-${d.severity}" aria-labelledby="dx-${d.id}">
  <h3 id="dx-${d.id}">${severity(d.severity)} ${d.findings.length === 0 ? 'No abnormal findings' : d.findings.map((x) => x.code).join(', ')}</h3>
  <p class="meta">By ${d.doctorName ?? 'doctor'} <code title="${d.doctor}">${short(d.doctor)}</code>
    · ${d.status}${d.reviewedBy === undefined ? '' : ` (reviewed by ${d.reviewedBy})`} · NEWS2 ${d.news2} · Dblock ${d.dblock}</p>
  ${findings(d.findings)}
  <p class="recommendation">${d.recommendation}</p>
  ${d.note === undefined ? '' : html`<p class="note">Doctor's note: ${d.note}</p>`}
  ${causes(d.causes, `${readingsRange(d.readings)}, ${new Date(d.readings.from).toISOString().slice(11, 19)}–${new Date(d.readings.to).toISOString().slice(11, 19)} UTC`)}
  <p><a href="${base}/patient/diagnoses/${d.id}/fhir" download="diagnostic-report-${d.id.slice(0, 12)}.json">Download FHIR DiagnosticReport</a></p>
</article>`
}

/** A finding the doctor signed that Docchain has not certified yet (net/preliminary.ts). */
function preliminaryArticle (d: DiagnosisView): Html {
  return html`<article class="diagnosis preliminary card sev-border-${d.severity}" aria-labelledby="pre-${d.id}">
  <h3 id="pre-${d.id}">Preliminary: ${severity(d.severity)} ${d.findings.length === 0 ? 'No abnormal findings' : d.findings.map((x) => x.code).join(', ')}</h3>
  <p class="meta">Signed by ${d.doctorName ?? 'doctor'} <code title="${d.doctor}">${short(d.doctor)}</code> · NEWS2 ${d.news2} · not yet certified on Docchain</p>
  ${findings(d.findings)}
  <p class="recommendation">${d.recommendation}</p>
</article>`
}

export function patientMain (f: Frame, p: PatientPage, cs: readonly Chart[]): Html {
  const urgent = p.alerts.some((a) => a.severity === 'urgent' || a.severity === 'emergency')
  return html`
<h1>Patient</h1>
<section aria-labelledby="summary-h" class="summary card">
  <h2 id="summary-h" class="visually-hidden">Summary</h2>
  <dl>
    <div><dt>User</dt><dd><code title="${p.user}">${short(p.user)}</code></dd></div>
    <div><dt>Key epoch</dt><dd>${p.epoch ?? 'none yet'}</dd></div>
    ${(p.pendingEpochs ?? []).map((e) => html`<div class="pending-epoch"><dt>Pending key epoch ${e.epoch}</dt><dd>${e.kind}${e.doctor === undefined ? '' : html` <code title="${e.doctor}">${short(e.doctor)}</code>`}: ${e.accepted ? 'in use, waiting to be mined' : 'waiting for the node to accept it'}${e.reissued > 0 ? ` (issued again ${e.reissued}× after expiring)` : ''}</dd></div>`)}
    <div><dt>Data key last renewed</dt><dd id="key-renewed">${p.keyRenewal.last === null ? 'not yet' : time(p.keyRenewal.last)}</dd></div>
    <div><dt>Next renewal</dt><dd id="key-next">${p.keyRenewal.next === null ? 'not scheduled' : time(p.keyRenewal.next)}</dd></div>
    <div><dt>Healthcoin balance</dt><dd id="balance">${p.balance}</dd></div>
    <div><dt>Doctors with access</dt><dd>${p.granted.length}</dd></div>
  </dl>
</section>
<section aria-labelledby="alerts-h" class="${urgent ? 'card urgent' : 'card'}">
  <h2 id="alerts-h">Alerts</h2>
  ${alerts(p.alerts)}
</section>
<section aria-labelledby="vitals-h">
  <h2 id="vitals-h">Vitals</h2>
  ${charts(cs)}
</section>
<section aria-labelledby="dx-h">
  <h2 id="dx-h">Diagnoses</h2>
  ${p.preliminary.map((d) => preliminaryArticle(d))}
  ${p.diagnoses.length === 0 ? html`<p>No diagnoses yet.</p>` : p.diagnoses.map((d) => diagnosisArticle(f.base, d))}
</section>
<section aria-labelledby="doctors-h" class="card">
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
</section>
${p.emergency === undefined ? '' : emergencySection(f, p.emergency)}
<section aria-labelledby="payments-h" class="card">
  <h2 id="payments-h">Healthcoin</h2>
  <p>Balance <strong>${p.balance}</strong>. Doctors diagnose only while you have prepaid.</p>
  ${p.payments.length === 0 ? html`<p>No payments yet.</p>` : html`<div class="scroll"><table id="payments"><caption class="visually-hidden">Payments</caption><thead><tr><th scope="col">To</th><th scope="col">Amount</th><th scope="col">Fee</th><th scope="col">Status</th><th scope="col">Transaction</th></tr></thead>
  <tbody>${p.payments.map((x) => html`<tr><td>${x.toName ?? ''} <code title="${x.to}">${short(x.to)}</code></td><td>${x.amount}</td><td>${x.fee}</td><td>${x.confirmed ? 'confirmed' : 'pending'}</td><td><code title="${x.id}">${short(x.id)}</code></td></tr>`)}</tbody></table></div>`}
</section>
<section aria-labelledby="devices-h" class="card">
  <h2 id="devices-h">Devices</h2>
  ${p.devices.length === 0 ? html`<p>No devices registered.</p>` : html`<div class="scroll"><table><thead><tr><th scope="col">Device</th><th scope="col">Sensors</th><th scope="col">Last seen</th><th scope="col">Accepted</th><th scope="col">Dropped</th></tr></thead>
  <tbody>${p.devices.map((d) => html`<tr><th scope="row">${d.id}</th><td>${d.sensors.join(', ')}</td><td>${d.lastSeen === null ? 'never' : time(d.lastSeen)}</td><td>${d.accepted}</td><td class="${d.dropped > 0 ? 'warn' : ''}">${d.dropped}${(d.drops ?? []).length === 0 ? '' : html`<ul class="drops">${(d.drops ?? []).map((x) => html`<li><span title="${x.code}">${x.count} × ${x.reason}</span>${x.last === undefined ? '' : html`<br><small>last: ${x.last}</small>`}</li>`)}</ul>`}</td></tr>`)}</tbody></table></div>`}
</section>`
}

/**
 * Emergency access (README "Emergency access"): the patient's choice with
 * its toggle, and every access Docchain audited — who, when, why, which
 * epochs, how many accounting nodes released their shares.
 */
export function emergencySection (f: Pick<Frame, 'base' | 'csrf'>, e: EmergencyView): Html {
  return html`<section aria-labelledby="emergency-h" class="card" id="emergency">
  <h2 id="emergency-h">Emergency access</h2>
  <p>${e.optIn
    ? html`<strong>On.</strong> Each new data key is split among ${e.members} accounting nodes; ${e.threshold} of them open it for an emergency doctor, only after the doctor's request is recorded on Docchain.`
    : html`<strong>Off.</strong> Nobody but you can hand out your data keys.`}</p>
  <form method="post" action="${f.base}/patient/emergency"><input type="hidden" name="_csrf" value="${f.csrf}"><input type="hidden" name="optIn" value="${e.optIn ? 'false' : 'true'}">
  <button type="submit"${e.optIn ? raw(' class="danger"') : ''}>${e.optIn ? 'Turn emergency access off' : 'Turn emergency access on'}</button></form>
  ${e.accesses.length === 0
    ? html`<p>No emergency access to your data.</p>`
    : html`<ul id="emergency-accesses">${e.accesses.map((a) => html`<li data-request="${a.id}">Doctor <code title="${a.doctor}">${a.doctor.slice(0, 16)}</code> · ${time((a.committed ?? a.ts) * 1000)} · epochs ${a.epochs.join(', ')}<br>
    <q>${a.reason}</q><br><small>${a.released.length} accounting nodes released their shares</small></li>`)}</ul>`}
  <p class="hint">Your next key renewal ends an emergency access: the doctor keeps what it was given, nothing newer.</p>
</section>`
}

function severityOptions (current: Severity): Html {
  return html`${SEVERITIES.map((s) => html`<option value="${s}"${s === current ? raw(' selected') : ''}>${s}</option>`)}`
}

function reviewArticle (f: Frame, r: ReviewView): Html {
  const obs = Object.entries(r.observations).filter(([, v]) => v !== undefined)
  return html`<article class="review card sev-border-${r.severity}" aria-labelledby="rv-${r.id}" data-review="${r.id}">
  <h3 id="rv-${r.id}">${severity(r.severity)} Patient <code title="${r.user}">${short(r.user)}</code></h3>
  <p class="meta">AI analysis · NEWS2 ${r.news2} · ${r.readings.count} readings, ${time(r.readings.from)} – ${time(r.readings.to)}</p>
  ${obs.length === 0 ? '' : html`<p class="obs">${obs.map(([k, v]) => html`<span>${k} <strong>${String(v)}</strong></span> `)}</p>`}
  ${findings(r.findings)}
  <p class="recommendation">${r.recommendation}</p>
  ${causes(r.causes, '')}
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
  return html`
<h1>Doctor</h1>
<section aria-labelledby="me-h" class="summary card">
  <h2 id="me-h" class="visually-hidden">Summary</h2>
  <dl>
    <div><dt>Doctor</dt><dd>${d.name} <code title="${d.doctor}">${short(d.doctor)}</code></dd></div>
    <div><dt>Patients</dt><dd>${d.patients.length}</dd></div>
    <div><dt>To review</dt><dd id="queue-count">${d.queue.length}</dd></div>
  </dl>
</section>
<section aria-labelledby="patients-h" class="card">
  <h2 id="patients-h">Patients who granted you access</h2>
  ${d.patients.length === 0 ? html`<p>No patient has granted you access.</p>` : html`<ul id="patients">${d.patients.map((p, i) => html`<li data-user="${p.user}">
    <h3>${p.name ?? 'Patient'} <code title="${p.user}">${short(p.user)}</code></h3>
    <p class="meta">Key epoch ${p.latestEpoch} (keys for ${p.epochs.length} epoch${p.epochs.length === 1 ? '' : 's'}) · ${p.readings.length} recent readings</p>
    <h4>Alerts</h4>
    ${alerts(p.alerts)}
    <h4 class="visually-hidden">Recent vitals</h4>
    ${charts(patientCharts[i] ?? [])}
  </li>`)}</ul>`}
</section>
<section aria-labelledby="queue-h">
  <h2 id="queue-h">Diagnoses to review</h2>
  ${d.queue.length === 0 ? html`<p>Nothing to review.</p>` : d.queue.map((r) => reviewArticle(f, r))}
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
