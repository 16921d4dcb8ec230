/**
 * `healthchain keys …`: the user's identity and its keystore (paper §IV-B5).
 */
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Command } from 'commander'
import {
  buildIdentityRecord, decodeIdentityRecord, encodeIdentityRecord, fromHex, InvalidFieldError, toHex,
  type DoctorKey, type Identity, type TxKey
} from '../core/index.ts'
import { createKeystore, keystoreId, openKeystore, writeFileAtomic } from '../store/keystore.ts'
import { checkNewPassphrase } from '../store/passphrase-policy.ts'
import { CoreNode } from '../roles/core/node.ts'
import { UserKeys } from '../roles/user/keys.ts'
import { keyHistory } from '../roles/user/chain.ts'
import { chainDir, network } from './chain.ts'
import { dataDir, keystorePath, passphrase } from './_common.ts'

/**
 * The doctors this user knows: their identity records (public: ID bound to
 * the X25519 key), kept in <data-dir>/doctors.json. A grant or revocation
 * re-seals the epoch's keys to every remaining doctor, so each must be here.
 */
async function readRecords (dir: string): Promise<string[]> {
  try { return JSON.parse(await readFile(join(dir, 'doctors.json'), 'utf8')) as string[] } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw new InvalidFieldError('doctors.json', `unreadable: ${(err as Error).message}`)
  }
}

export async function doctorBook (dir: string): Promise<Map<string, DoctorKey>> {
  const book = new Map<string, DoctorKey>()
  for (const h of await readRecords(dir)) { const r = decodeIdentityRecord(fromHex('doctors.json', h)); book.set(toHex(r.id), { id: r.id, x25519: r.x25519 }) }
  return book
}

interface ChainKeyOpts { keystore?: string, dataDir?: string, passphraseFile?: string, network?: string }

/** Opens the user's identity and the local Userchain, rebuilds the key epochs from it and runs `fn`. */
async function withUserKeys<T> (o: ChainKeyOpts, fn: (k: { who: Identity, keys: UserKeys, node: CoreNode, book: Map<string, DoctorKey> }) => Promise<T>): Promise<T> {
  const who = await openKeystore(keystorePath(o), await passphrase(o))
  const book = await doctorBook(dataDir(o.dataDir))
  const node = await CoreNode.open({ dir: chainDir(o), params: network(o.network) })
  try {
    const keys = UserKeys.fromChain(who, await keyHistory(node.store, node.mempool, who.id), {
      rng: (n) => new Uint8Array(randomBytes(n)),
      now: () => Math.floor(Date.now() / 1000),
      directory: { lookup: (id) => book.get(toHex(id)) }
    })
    return await fn({ who, keys, node, book })
  } finally {
    await node.close()
  }
}

async function publishKey (node: CoreNode, tx: TxKey): Promise<void> {
  const r = await node.submitTx(tx)
  if (!r.accepted) throw new InvalidFieldError('tx_key', `the node refused it: ${r.reason}`)
  await node.mempool.flush()
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
    .action(async (o: KeyOpts) => {
      const file = keystorePath(o)
      const pass = await passphrase(o, 'New passphrase: ')
      await checkNewPassphrase(pass)
      const who = await createKeystore(file, pass)
      console.log(`created ${file}\nid: ${toHex(who.id)}`)
    })

  withStoreOptions(keys.command('show'))
    .description('print the public ID (and, with the passphrase, the X25519 envelope key)')
    .option('--json', 'machine-readable output')
    .option('--no-unlock', 'print only the ID, without asking for the passphrase')
    .action(async (o: KeyOpts & { unlock: boolean }) => {
      const file = keystorePath(o)
      if (!o.unlock) { console.log(toHex(await keystoreId(file))); return }
      const who = await openKeystore(file, await passphrase(o))
      const out = { keystore: file, id: toHex(who.id), x25519: toHex(who.agreement.publicKey) }
      console.log(o.json === true ? JSON.stringify(out) : `keystore: ${out.keystore}\nid:       ${out.id}\nx25519:   ${out.x25519}`)
    })

  withStoreOptions(keys.command('export-public'))
    .description('print the signed identity record (hex) that binds the ID to its X25519 key, for registration')
    .action(async (o: KeyOpts) => {
      const who = await openKeystore(keystorePath(o), await passphrase(o))
      console.log(toHex(encodeIdentityRecord(buildIdentityRecord(who, Math.floor(Date.now() / 1000)))))
    })

  const chainOpts = (c: Command): Command => withStoreOptions(c).option('--network <name>', 'devnet or mainnet', 'devnet')

  chainOpts(keys.command('grant'))
    .argument('<doctor-record>', 'the doctor\'s identity record (hex, from `keys export-public` on the doctor node)')
    .description('grant a doctor access: a new tx_key sealing the current IoT key and the doctor\'s diagnosis key to it (paper Alg. 3)')
    .action(async (recordHex: string, o: ChainKeyOpts) => {
      const rec = decodeIdentityRecord(fromHex('doctor-record', recordHex.trim()))
      const dir = dataDir(o.dataDir)
      if (!(await doctorBook(dir)).has(toHex(rec.id))) await writeFileAtomic(join(dir, 'doctors.json'), JSON.stringify([...await readRecords(dir), recordHex.trim()], null, 2) + '\n')
      await withUserKeys(o, async ({ keys, node }) => {
        if (keys.current === null) await publishKey(node, keys.init())
        const tx = keys.grant(rec.id)
        await publishKey(node, tx)
        console.log(`granted ${toHex(rec.id)} in epoch ${tx.epoch} (tx_key queued in the mempool; the node mines it)`)
      })
    })

  chainOpts(keys.command('revoke'))
    .argument('<doctor-id>', 'the doctor\'s ID (hex)')
    .description('revoke a doctor: a new epoch with a fresh IoT key sealed only to the remaining doctors (forward security: data sealed earlier stays readable to it)')
    .action(async (idHex: string, o: ChainKeyOpts) => {
      const id = fromHex('doctor-id', idHex.trim())
      await withUserKeys(o, async ({ keys, node }) => {
        const tx = keys.revoke(id)
        await publishKey(node, tx)
        console.log(`revoked ${toHex(id)}: epoch ${tx.epoch} has a fresh IoT key for ${tx.envelopes.length} remaining doctor(s)`)
      })
    })

  chainOpts(keys.command('doctors'))
    .description('list the doctors the latest key epoch grants')
    .option('--json', 'machine-readable output')
    .action(async (o: ChainKeyOpts & { json?: boolean }) => {
      await withUserKeys(o, async ({ keys }) => {
        const cur = keys.current
        const out = { epoch: cur?.epoch ?? 0, doctors: (cur?.doctors ?? []).map(toHex) }
        if (o.json === true) console.log(JSON.stringify(out))
        else console.log(cur === null ? 'no key epoch yet' : `epoch ${out.epoch}: ${out.doctors.length === 0 ? 'no doctors' : out.doctors.join('\n  ')}`)
      })
    })
}

