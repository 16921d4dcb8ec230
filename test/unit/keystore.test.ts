import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { toHex } from '../../hub/src/core/index.ts'
import { createKeystore, KeystoreExistsError, KeystoreFormatError, KeystoreMissingError, openKeystore, saveKeystore, WrongPassphraseError, EmptyPassphraseError } from '../../hub/src/store/keystore.ts'
import { seed } from '../helpers/core.ts'

const run = promisify(execFile)
const CHEAP = { N: 1024, r: 8, p: 1 }
const CLI = new URL('../../hub/src/cli.ts', import.meta.url).pathname

t.test('round trip, 0600, wrong passphrase, refusal to overwrite, tampering', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'ks.json')
  const who = await saveKeystore(file, seed('ks'), 'correct horse', { scrypt: CHEAP })
  t.equal((await stat(file)).mode & 0o777, 0o600, 'file mode 0600')
  const back = await openKeystore(file, 'correct horse')
  t.same(back.id, who.id)
  t.same(back.agreement.publicKey, who.agreement.publicKey)
  await t.rejects(openKeystore(file, 'wrong horse'), WrongPassphraseError)
  await t.rejects(openKeystore(file, ''), EmptyPassphraseError)
  await t.rejects(saveKeystore(file, seed('other'), 'x', { scrypt: CHEAP }), KeystoreExistsError, 'never overwrites a key by accident')
  const j = JSON.parse(await readFile(file, 'utf8'))
  const other = join(dir, 'edited.json')
  await writeFile(other, JSON.stringify({ ...j, id: toHex(seed('someone else')) }))
  await t.rejects(openKeystore(other, 'correct horse'), WrongPassphraseError, 'an edited ID does not open (it is the AAD)')
  await writeFile(other, JSON.stringify({ ...j, kdf: { ...j.kdf, N: 1000 } }))
  await t.rejects(openKeystore(other, 'correct horse'), KeystoreFormatError, 'N must be a power of two')
  await writeFile(other, 'not json')
  await t.rejects(openKeystore(other, 'x'), KeystoreFormatError)
  await t.rejects(openKeystore(join(dir, 'missing.json'), 'x'), KeystoreMissingError, 'a missing keystore says to create it')
  t.ok((await createKeystore(join(dir, 'fresh.json'), 'p', { scrypt: CHEAP })).id.length === 32)
  const nested = join(dir, 'new', 'data', 'keystore.json')
  await createKeystore(nested, 'p', { scrypt: CHEAP })
  t.equal((await stat(join(dir, 'new', 'data'))).mode & 0o777, 0o700, 'a first keys new creates a private data dir')
})

t.test('the CLI never prints private key bytes', async (t) => {
  const dir = t.testdir()
  const ks = join(dir, 'k.json')
  const env = { ...process.env, HEALTHCHAIN_PASSPHRASE: 'cli keystore passphrase' }
  const outputs: string[] = []
  for (const args of [['keys', 'new', '--keystore', ks], ['keys', 'show', '--keystore', ks], ['keys', 'show', '--json', '--keystore', ks], ['keys', 'export-public', '--keystore', ks]]) {
    const r = await run(process.execPath, [CLI, ...args], { env })
    outputs.push(r.stdout, r.stderr)
  }
  const bad = await run(process.execPath, [CLI, 'keys', 'show', '--keystore', ks], { env: { ...env, HEALTHCHAIN_PASSPHRASE: 'nope' } }).then(() => null, (e: { code: number, stderr: string, stdout: string }) => e)
  t.ok(bad !== null && bad.code === 1, 'wrong passphrase exits 1')
  t.match(bad!.stderr, /wrong passphrase/)
  outputs.push(bad!.stdout, bad!.stderr)
  const who = await openKeystore(ks, 'cli keystore passphrase')
  const der = who.signing.key.export({ format: 'der', type: 'pkcs8' })
  const sk = der.subarray(der.length - 32)
  const xsk = who.agreement.key.export({ format: 'der', type: 'pkcs8' }).subarray(-32)
  const log = outputs.join('\n')
  t.match(log, toHex(who.id), 'the ID is printed')
  for (const secret of [sk, xsk]) {
    for (const form of [secret.toString('hex'), secret.toString('base64'), secret.toString('base64url')]) {
      t.notOk(log.includes(form), 'no private key bytes in any output')
    }
  }
})
