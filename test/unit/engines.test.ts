/**
 * Quiet installs: npm prints an EBADENGINE warning for every installed
 * package whose `engines.node` the running Node does not satisfy. On every
 * Node that package.json's `engines` admits, no package of the locked tree
 * may warn, and the `healthchain` launcher (bin/healthchain.js) must accept
 * exactly those versions.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import semver from 'semver'
import { supported } from '../../bin/healthchain.js'

const root = new URL('../../', import.meta.url)
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { engines: { node: string } }
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as { packages: Record<string, { version?: string, engines?: { node?: string }, dev?: boolean }> }
const range = pkg.engines.node
// the lowest version of each line the range admits, and the versions in use (the pinned devDependency, the CI's)
const versions = ['22.19.0', '22.22.0', '24.3.0', '24.21.0', '26.0.0', lock.packages['node_modules/node']?.version ?? '24.21.0']

t.test('no locked package warns on a Node the engines field admits', async (t) => {
  for (const v of versions) {
    t.ok(semver.satisfies(v, range), `${v} is in ${range}`)
    const warns = Object.entries(lock.packages)
      .filter(([, p]) => p.engines?.node !== undefined && semver.validRange(p.engines.node) !== null && !semver.satisfies(v, p.engines.node))
      .map(([name, p]) => `${name.replace(/^.*node_modules\//, '')} (${p.engines!.node!})`)
    t.same(warns, [], `Node ${v}: no EBADENGINE`)
  }
})

t.test('the launcher runs the CLI in-process exactly on the versions engines admits', async (t) => {
  for (const v of ['20.20.2', '22.18.0', '22.19.0', '23.11.0', '24.0.0', '24.2.0', '24.3.0', '24.21.0', '25.1.0', '26.0.0', '27.2.0']) {
    t.equal(supported(v, 'strip'), semver.satisfies(v, range), `${v}`)
  }
  t.notOk(supported('24.21.0', false), 'type stripping turned off: hand over')
  t.notOk(supported('24.21.0', undefined), 'a Node without process.features.typescript')
})
