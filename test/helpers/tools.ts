/**
 * External tools a test needs (Debian's socat, mosquitto, chromium, strace):
 * one place decides whether a missing tool skips the test or fails the run.
 * With HEALTHCHAIN_REQUIRE_TOOLS=1 (set by .ci/run) a missing tool is a
 * failure naming the tool and its Debian package, so CI cannot go green by
 * skipping; elsewhere the test is skipped with the same message.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** Debian package that provides each tool, for the message. */
const PACKAGE: Record<string, string> = {
  socat: 'socat',
  mosquitto: 'mosquitto',
  mosquitto_passwd: 'mosquitto',
  mosquitto_pub: 'mosquitto-clients',
  chromium: 'chromium',
  strace: 'strace',
  openssl: 'openssl'
}

/** True when HEALTHCHAIN_REQUIRE_TOOLS asks for every tool to be present. */
export function toolsRequired (env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.HEALTHCHAIN_REQUIRE_TOOLS
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
}

/** An environment variable that names a tool's path instead of PATH (playwright needs Chromium's file, not a command). */
const OVERRIDE: Record<string, string> = {
  chromium: 'CHROMIUM_PATH'
}

/**
 * Directories searched after PATH: Debian installs daemons such as mosquitto
 * in /usr/sbin, which a non-root user's PATH does not list.
 */
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin']

/**
 * The path of `name`, or undefined: an absolute path is checked as is; a
 * name with an override variable set (CHROMIUM_PATH) is that file; otherwise
 * the first match on PATH, then in the sbin directories.
 */
export function findTool (name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (name.startsWith('/')) return existsSync(name) ? name : undefined
  const key = OVERRIDE[name]
  const override = key === undefined ? undefined : env[key]
  if (override !== undefined && override !== '') return existsSync(override) ? override : undefined
  const path = [...(env.PATH ?? '').split(':').filter((d) => d !== ''), ...SBIN].join(':')
  try {
    const out = execFileSync('/bin/sh', ['-c', 'command -v "$1"', 'sh', name], { env: { ...env, PATH: path }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return out === '' ? undefined : out
  } catch { return undefined }
}

export class MissingToolError extends Error {
  readonly tools: string[]
  constructor (tools: string[]) {
    super(`required tool${tools.length > 1 ? 's' : ''} missing: ${tools.map((n) => `${n} (apt-get install ${PACKAGE[n.replace(/^.*\//, '')] ?? n})`).join(', ')}; HEALTHCHAIN_REQUIRE_TOOLS is set, so this fails instead of skipping`)
    this.name = 'MissingToolError'
    this.tools = tools
  }
}

/**
 * The tap `skip` option for a test that needs `names`: false when all are
 * present; a skip reason when one is missing; throws MissingToolError (so the
 * test file fails) when one is missing and tools are required.
 */
export function skipUnlessTools (...names: string[]): false | string {
  const missing = names.filter((n) => findTool(n) === undefined)
  if (missing.length === 0) return false
  if (toolsRequired()) throw new MissingToolError(missing)
  return `${missing.join(', ')} not installed (apt-get install ${[...new Set(missing.map((n) => PACKAGE[n.replace(/^.*\//, '')] ?? n))].join(' ')})`
}

/**
 * A specification kept beside the repository in ../shared/specs/ (not copied
 * into it): its path, whether it is there or not.
 */
export function sharedSpec (name: string): string {
  return new URL(`../../../shared/specs/${name}`, import.meta.url).pathname
}

/**
 * The tap `skip` option for a test that reads `sharedSpec(name)`: false when
 * the file is there; a skip reason when it is not; throws (the test file
 * fails) when it is not and HEALTHCHAIN_REQUIRE_TOOLS is set.
 */
export function skipUnlessSpec (name: string): false | string {
  const path = sharedSpec(name)
  if (existsSync(path)) return false
  const why = `${path} is absent (the specs are kept beside the repository in ../shared/specs/)`
  if (toolsRequired()) throw new Error(`${why}; HEALTHCHAIN_REQUIRE_TOOLS is set, so this fails instead of skipping`)
  return why
}
