/**
 * `healthchain keys …`: the user's identity and its keystore (paper §IV-B5).
 */
import { randomBytes } from 'node:crypto'
import type { Command } from 'commander'
import { buildIdentityRecord, encodeIdentityRecord, fromHex, InvalidFieldError, toHex, type DoctorKey } from '../core/index.ts'
import { createKeystore, keystoreId, openKeystore } from '../store/keystore.ts'
import { checkNewPassphrase } from '../store/passphrase-policy.ts'
import { DoctorBook } from '../app/doctor-book.ts'
import { coreEpochChain, keysService, type EpochResult, type KeysService } from '../app/hub-service.ts'
import { EpochCommitter, pendingEpochsPath, type PendingEpoch } from '../roles/user/commit.ts'
import type { GrantScope } from '../roles/user/keys.ts'
import type { ApiClient } from '../api/client.ts'
import { output, viaDaemon } from './_daemon.ts'
import { CoreNode } from '../roles/core/node.ts'
import { UserKeys } from '../roles/user/keys.ts'
import { keyHistory } from '../roles/user/chain.ts'
import { firstTxStamper } from '../roles/user/stamp.ts'
import { chainDir, network } from './chain.ts'
import { dataDir, keystorePath, passphrase } from './_common.ts'
import { registerRecovery } from './recovery.ts'

interface ChainKeyOpts { keystore?: string, dataDir?: string, passphraseFile?: string, network?: string, json?: boolean }

/** The keys service (app/hub-service.ts) on a stopped hub's data dir: its identity, Userchain and doctor book. */
async function withKeysService<T> (o: ChainKeyOpts, fn: (s: KeysService) => Promise<T>): Promise<T> {
  const who = await openKeystore(keystorePath(o), await passphrase(o))
  const book = await DoctorBook.load(dataDir(o.dataDir))
  const node = await CoreNode.open({ dir: chainDir(o), params: network(o.network) })
  try {
    const keys = UserKeys.fromChain(who, await keyHistory(node.store, node.mempool, who.id), {
      rng: (n) => new Uint8Array(randomBytes(n)),
      now: () => Math.floor(Date.now() / 1000),
      directory: { lookup: (id) => book.lookup(id) }
    })
    const stampFirst = firstTxStamper(who, node, { rng: (n) => new Uint8Array(randomBytes(n)), doctors: { lookup: (id) => book.lookup(id) }, log: (line) => { process.stderr.write(`${line}\n`) } })
    const committer = await EpochCommitter.open({ keys, chain: coreEpochChain(node, async () => { await node.mempool.flush() }), file: pendingEpochsPath(dataDir(o.dataDir)), stamp: stampFirst })
    try {
      return await fn(keysService({ committer, book }))
    } finally { committer.stop() }
  } finally {
    await node.close()
  }
}

/** A key-epoch command through the running hub's API, else on the data dir. */
async function keyCommand<T> (o: ChainKeyOpts, api: (c: ApiClient) => Promise<T>, direct: (s: KeysService) => Promise<T>): Promise<T> {
  return await viaDaemon(o.dataDir, api, async () => await withKeysService(o, direct))
}

/** The doctor book of a data dir, by hex ID (`healthchain hub` hands it to startHub). */
export async function doctorBook (dir: string): Promise<{ get: (id: string) => DoctorKey | undefined }> {
  const book = await DoctorBook.load(dir)
  return { get: (id: string) => book.lookup(fromHex('id', id)) }
}

interface KeyOpts { keystore?: string, dataDir?: string, passphraseFile?: string, json?: boolean }

function withStoreOptions (c: Command): Command {
  return c.option('--keystore <file>', 'keystore file (default <data-dir>/keystore.json)')
    .option('--data-dir <dir>', 'data directory (default $HEALTHCHAIN_DATA or ~/.healthchain)')
    .option('--passphrase-file <file>', 'read the passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
}

export function register (program: Command): void {
  const keys = program.command('keys').description('create and inspect this node\'s identity (Ed25519 ID + X25519 envelope key)')

  withStoreOptions(keys.command('new'))
    .description('create a new identity and save it encrypted (scrypt + AES-256-GCM, file mode 0600)')
    .option('--json', 'machine-readable output')
    .action(async (o: KeyOpts) => {
      const file = keystorePath(o)
      const pass = await passphrase(o, 'New passphrase: ')
      await checkNewPassphrase(pass)
      const who = await createKeystore(file, pass)
      output(o, { keystore: file, id: toHex(who.id) }, () => `created ${file}\nid: ${toHex(who.id)}`)
    })

  withStoreOptions(keys.command('show'))
    .description('print the public ID (and, with the passphrase, the X25519 envelope key)')
    .option('--json', 'machine-readable output')
    .option('--no-unlock', 'print only the ID, without asking for the passphrase')
    .action(async (o: KeyOpts & { unlock: boolean }) => {
      const file = keystorePath(o)
      if (!o.unlock) { const id = toHex(await keystoreId(file)); output(o, { keystore: file, id }, () => id); return }
      const who = await openKeystore(file, await passphrase(o))
      const out = { keystore: file, id: toHex(who.id), x25519: toHex(who.agreement.publicKey) }
      console.log(o.json === true ? JSON.stringify(out) : `keystore: ${out.keystore}\nid:       ${out.id}\nx25519:   ${out.x25519}`)
    })

  withStoreOptions(keys.command('export-public'))
    .description('print the signed identity record (hex) that binds the ID to its X25519 key, for registration')
    .option('--json', 'machine-readable output')
    .action(async (o: KeyOpts) => {
      const who = await openKeystore(keystorePath(o), await passphrase(o))
      const record = toHex(encodeIdentityRecord(buildIdentityRecord(who, Math.floor(Date.now() / 1000))))
      output(o, { id: toHex(who.id), record }, () => record)
    })

  const chainOpts = (c: Command): Command => withStoreOptions(c).option('--network <name>', 'devnet or mainnet', 'devnet').option('--json', 'machine-readable output')

  chainOpts(keys.command('grant'))
    .argument('<doctor>', 'the doctor\'s identity record (hex, from `keys export-public` on the doctor node), or the ID of a doctor already known')
    .option('--scope <scope>', 'from-now: the doctor reads from the grant on (a fresh IoT key); history: also what was sealed since the last fresh key', 'from-now')
    .description('grant a doctor access: a new tx_key sealing the IoT key and the doctor\'s diagnosis key to it (paper Alg. 3); through the running hub, or on the data dir when it is stopped')
    .action(async (doctor: string, o: ChainKeyOpts & { scope: string }) => {
      if (o.scope !== 'from-now' && o.scope !== 'history') throw new InvalidFieldError('scope', 'must be from-now or history')
      const scope = o.scope as GrantScope
      const r = await keyCommand(o, async (c) => await c.call<EpochResult & { doctor: string, scope: GrantScope }>('POST', '/v1/keys/grant', { doctor: doctor.trim(), scope }), async (s) => await s.grant(doctor, scope))
      output(o, r, () => `granted ${r.doctor} in epoch ${r.epoch}, scope ${r.scope} (tx_key ${r.tx} accepted by the node and in use; the node mines it)`)
    })

  chainOpts(keys.command('revoke'))
    .argument('<doctor-id>', 'the doctor\'s ID (hex)')
    .description('revoke a doctor: a new epoch with a fresh IoT key sealed only to the remaining doctors (forward security: data sealed earlier stays readable to it)')
    .action(async (idHex: string, o: ChainKeyOpts) => {
      const r = await keyCommand(o, async (c) => await c.call<EpochResult & { doctor: string }>('POST', '/v1/keys/revoke', { doctor: idHex.trim() }), async (s) => await s.revoke(idHex))
      output(o, r, () => `revoked ${r.doctor}: epoch ${r.epoch} has a fresh IoT key for ${r.doctors.length} remaining doctor(s)`)
    })

  chainOpts(keys.command('rotate'))
    .description('renew the IoT key for the same doctors now (the hub also does it every keyRotationDays)')
    .action(async (o: ChainKeyOpts) => {
      const r = await keyCommand(o, async (c) => await c.call<EpochResult>('POST', '/v1/keys/rotate', {}), async (s) => await s.rotate())
      output(o, r, () => `rotated: epoch ${r.epoch} has a fresh IoT key for the same ${r.doctors.length} doctor(s)`)
    })

  chainOpts(keys.command('doctors'))
    .description('list the doctors the latest key epoch grants')
    .action(async (o: ChainKeyOpts) => {
      const r = await keyCommand(o, async (c) => await c.call<{ epoch: number, doctors: readonly string[], pending: readonly PendingEpoch[] }>('GET', '/v1/keys/doctors'), async (s) => await s.doctors())
      const pending = r.pending.map((p) => `\n  pending: epoch ${p.epoch} ${p.kind}${p.doctor === undefined ? '' : ` ${p.doctor}`} (tx_key ${p.id}, ${p.accepted ? 'accepted, not yet mined' : 'not yet accepted'}${p.reissued > 0 ? `, issued again ${p.reissued}×` : ''})`).join('')
      output(o, r, () => (r.epoch === 0 ? 'no key epoch yet' : `epoch ${r.epoch}: ${r.doctors.length === 0 ? 'no doctors' : r.doctors.join('\n  ')}`) + pending)
    })

  registerRecovery(keys, withStoreOptions)
}
