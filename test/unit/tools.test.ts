/**
 * test/helpers/tools.ts: a test that needs a Debian tool skips without it,
 * and with HEALTHCHAIN_REQUIRE_TOOLS=1 (as .ci/run sets) its file fails with
 * a message naming the tool. The file-level check runs a real test file
 * (ingest-serial, which needs socat) in a child with a PATH that has no socat.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findTool, MissingToolError, sharedSpec, skipUnlessSpec, skipUnlessTools, toolsRequired } from '../helpers/tools.ts'

const dir = mkdtempSync(join(tmpdir(), 'hc-tools-'))
t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
const bin = join(dir, 'bin')
const empty = join(dir, 'empty')
for (const d of [bin, empty]) mkdirSync(d)
const FAKE = 'hc-fake-tool'
writeFileSync(join(bin, FAKE), '#!/bin/sh\nexit 0\n')
chmodSync(join(bin, FAKE), 0o755)

t.test('findTool: PATH, then the override variable for Chromium', async (t) => {
  t.equal(findTool(FAKE, { PATH: bin }), join(bin, FAKE), 'found on PATH')
  t.equal(findTool(FAKE, { PATH: empty }), undefined, 'not found when PATH lacks it')
  t.equal(findTool(join(bin, FAKE), { PATH: empty }), join(bin, FAKE), 'an absolute path is checked as is')
  t.equal(findTool('chromium', { PATH: empty, CHROMIUM_PATH: join(bin, FAKE) }), join(bin, FAKE), 'CHROMIUM_PATH names the browser')
  t.equal(findTool('chromium', { PATH: bin, CHROMIUM_PATH: join(empty, 'chromium') }), undefined, 'a CHROMIUM_PATH that does not exist is a missing browser')
})

t.test('toolsRequired reads HEALTHCHAIN_REQUIRE_TOOLS', async (t) => {
  t.equal(toolsRequired({ HEALTHCHAIN_REQUIRE_TOOLS: '1' }), true)
  for (const v of [undefined, '', '0', 'false']) t.equal(toolsRequired({ HEALTHCHAIN_REQUIRE_TOOLS: v }), false, `not with ${JSON.stringify(v)}`)
})

t.test('skipUnlessTools: false, a skip reason, or a MissingToolError naming the tool', async (t) => {
  const saved = { PATH: process.env.PATH, HEALTHCHAIN_REQUIRE_TOOLS: process.env.HEALTHCHAIN_REQUIRE_TOOLS }
  t.teardown(() => { for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v } })
  process.env.PATH = bin
  delete process.env.HEALTHCHAIN_REQUIRE_TOOLS
  t.equal(skipUnlessTools(FAKE), false, 'present: run')
  process.env.PATH = empty
  t.match(skipUnlessTools(FAKE), new RegExp(`^${FAKE} not installed`), 'missing: skipped with the reason')
  process.env.HEALTHCHAIN_REQUIRE_TOOLS = '1'
  t.throws(() => skipUnlessTools(FAKE), new MissingToolError([FAKE]), 'missing and required: throws')
  t.throws(() => skipUnlessTools('socat'), { message: /socat \(apt-get install socat\)/ }, 'the message names the tool and its Debian package')
  process.env.PATH = bin
  t.equal(skipUnlessTools(FAKE), false, 'present and required: run')
})

t.test('skipUnlessSpec: a spec kept in ../shared/specs/ runs, skips, or fails when required', async (t) => {
  const saved = process.env.HEALTHCHAIN_REQUIRE_TOOLS
  t.teardown(() => { if (saved === undefined) delete process.env.HEALTHCHAIN_REQUIRE_TOOLS; else process.env.HEALTHCHAIN_REQUIRE_TOOLS = saved })
  t.match(sharedSpec('ipfs-pinning-service.yaml'), /\/shared\/specs\/ipfs-pinning-service\.yaml$/, 'beside the repository, not in it')
  delete process.env.HEALTHCHAIN_REQUIRE_TOOLS
  t.match(skipUnlessSpec('no-such-spec.yaml'), /no-such-spec\.yaml is absent/, 'absent: skipped with the reason')
  process.env.HEALTHCHAIN_REQUIRE_TOOLS = '1'
  t.throws(() => skipUnlessSpec('no-such-spec.yaml'), { message: /no-such-spec\.yaml is absent.*HEALTHCHAIN_REQUIRE_TOOLS is set, so this fails/ }, 'absent and required: throws')
})

t.test('a test file that needs socat, run without socat on PATH', async (t) => {
  const file = fileURLToPath(new URL('../integration/ingest-serial.test.ts', import.meta.url))
  // a bare environment: the child is a plain tap file, not one of the runner's jobs
  const run = (env: Record<string, string>): ReturnType<typeof spawnSync> =>
    spawnSync(process.execPath, ['--no-warnings', file], { env: { PATH: empty, HOME: dir, ...env }, encoding: 'utf8', timeout: 60_000 })
  const skipped = run({})
  t.equal(skipped.status, 0, 'without HEALTHCHAIN_REQUIRE_TOOLS it exits 0 …')
  t.match(String(skipped.stdout), /# SKIP socat not installed/, '… reporting the test as skipped, naming socat')
  const failed = run({ HEALTHCHAIN_REQUIRE_TOOLS: '1' })
  t.not(failed.status, 0, 'with HEALTHCHAIN_REQUIRE_TOOLS=1 the file fails …')
  t.match(String(failed.stderr), /MissingToolError: required tool missing: socat \(apt-get install socat\)/, '… with a message naming socat')
})
