import { makeFixture, story } from './test/browser/web-fixture.ts'
import { patientMain, doctorMain } from './hub/src/web/pages.ts'
import { vitalsCharts } from './hub/src/web/charts.ts'
const f = makeFixture(); await story(f)
const p = await f.patient.page()
const fr = { base: '', csrf: 'x', pages: { patient: true, doctor: true } }
const m = patientMain(fr, p, await vitalsCharts(p.readings, { sustained: p.sustained }))
console.log(m.text.replace(/<svg[^]*?<\/svg>/g, '<svg/>'))
const d = await f.doctor.page()
console.log(doctorMain(fr, d, []).text.slice(0, 3000))
