/**
 * hub/src/ingest/README.md is what a device author follows: its example
 * lines must parse (right CRC, right fields), its topic must be the one the
 * broker's ACL lets the device publish to, and its table of drop reasons
 * must list every code the page explains (DROP_REASONS) — and those every
 * code the ingest path drops with.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parseLine } from '../../hub/src/ingest/line.ts'
import { mayPublish } from '../../hub/src/ingest/mqtt.ts'
import * as errors from '../../hub/src/ingest/errors.ts'

const readme = readFileSync(new URL('../../hub/src/ingest/README.md', import.meta.url), 'utf8')
const example = readFileSync(new URL('../../hub/hub.example.json', import.meta.url), 'utf8')

t.test('the worked example parses and goes to a topic the device may use', async (t) => {
  const lines = [...readme.matchAll(/'?(\{"d":[^']*?\}\*[0-9a-f]{8})/g)].map((m) => m[1]!)
  t.ok(lines.length >= 2, 'example lines found')
  for (const l of lines) t.doesNotThrow(() => parseLine(l), l)
  const hubId = (JSON.parse(example) as { hubId: string }).hubId
  const topic = /-t (\S+)/.exec(readme)![1]!
  t.ok(mayPublish(hubId, 'ox-1', topic), `${topic} with the example config's hubId ${hubId}`)
  t.throws(() => parseLine(lines[0]!.replace(/\*[0-9a-f]{8}$/, '*00000000')), { code: 'ERR_LINE_CHECKSUM' }, 'a wrong CRC is refused')
})

t.test('every drop reason is documented', async (t) => {
  const codes = new Set(Object.values(errors).flatMap((E) => {
    if (typeof E !== 'function') return []
    try { return [(new (E as new (...a: unknown[]) => { code: string })('x', 'y', 'z')).code] } catch { return [] }
  }).filter((c) => c !== 'ERR_DEVICE_EXISTS'))
  t.same([...codes].sort(), Object.keys(errors.DROP_REASONS).sort(), 'DROP_REASONS explains every error the ingest path drops with')
  for (const c of codes) t.match(readme, new RegExp(`\\| \`${c}\` \\|`), `${c} in the README's table`)
})
