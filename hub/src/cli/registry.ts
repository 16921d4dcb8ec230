/**
 * `healthchain registry …`: the consortium's doctor registry on Docchain
 * (paper §III-A: "only doctor nodes authorized by consortium can generate
 * diagnosis transactions"; DESIGN §4). A REGISTER or SUSPEND record (TxReg,
 * core/tx/reg.ts) needs m of the n consortium signatures: one member signs
 * it (`sign`), the file goes to the next member who adds theirs
 * (`sign --add-to`), and any of them submits it to an accounting node
 * (`submit`), which orders it on Docchain by PBFT like a tx_diag. A record
 * file holds the record's canonical bytes as one hex line.
 */
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Command } from 'commander'
import {
  buildTxReg, cosignTxReg, decodeIdentityRecord, encodeTx, equalBytes, fromHex, InvalidFieldError, toHex,
  type RegistryAction, type RegistryRole, type TxReg
} from '../core/index.ts'
import { decodeRegistryRecord } from '../core/pbft/registry.ts'
import { openKeystore, writeFileAtomic } from '../store/keystore.ts'
import { keystorePath, passphrase, readOptionFile } from './_common.ts'

interface StoreOpts { keystore?: string, dataDir?: string, passphraseFile?: string }
interface SignOpts extends StoreOpts { action?: string, doctorRecord?: string, seq?: string, role?: string, addTo?: string, out?: string }

/** A hex argument given inline or as @file. */
async function hexArg (field: string, v: string): Promise<Uint8Array> {
  const text = v.startsWith('@') ? await readOptionFile(`--${field}`, resolve(v.slice(1))) : v
  return fromHex(field, text.trim())
}

export async function readRecordFile (file: string): Promise<TxReg> {
  let text: string
  try { text = await readFile(resolve(file), 'utf8') } catch (err) { throw new InvalidFieldError('record', `unreadable: ${(err as Error).message}`) }
  return decodeRegistryRecord(fromHex('record', text.trim()))
}

function describe (r: TxReg): { action: RegistryAction, seq: number, doctor: string, x25519: string, identityTs: number, roles: string[], signers: string[] } {
  const id = decodeIdentityRecord(r.identity)
  return { action: r.action, seq: r.seq, doctor: toHex(id.id), x25519: toHex(id.x25519), identityTs: id.ts, roles: [...(r.roles ?? [])], signers: r.sigs.map((s) => toHex(s.signer)) }
}

/** --role: emergency (a doctor who may request emergency access) or accounting (an accounting node's record: its X25519 key). */
function rolesArg (v: string | undefined): RegistryRole[] {
  if (v === undefined) return []
  return v.split(',').map((x) => x.trim()).map((x) => {
    if (x !== 'emergency' && x !== 'accounting') throw new InvalidFieldError('--role', `must be emergency or accounting, got ${x}`)
    return x
  })
}

export function register (program: Command): void {
  const reg = program.command('registry').description('the consortium\'s doctor registry on Docchain: sign, inspect and submit REGISTER/SUSPEND records (m of n signatures)')

  reg.command('sign')
    .description('sign a registry record with this member\'s keystore — a new one, or add a signature to one another member signed (--add-to)')
    .option('--action <action>', 'register or suspend (a new record)')
    .option('--doctor-record <hex|@file>', 'the doctor\'s identity record, from `keys export-public` on the doctor node (a new record)')
    .option('--seq <n>', 'position in the registry\'s history: the last committed record\'s seq + 1 (a new record)')
    .option('--role <roles>', 'emergency: the doctor may request emergency access; accounting: the record is an accounting node\'s, publishing its X25519 key for emergency escrow (comma separated; a new record)')
    .option('--add-to <file>', 'a record file to add this member\'s signature to')
    .option('--out <file>', 'where to write the record (default: the --add-to file, else stdout)')
    .option('--keystore <file>', 'keystore file (default <data-dir>/keystore.json)')
    .option('--data-dir <dir>', 'data directory (default $HEALTHCHAIN_DATA or ~/.healthchain)')
    .option('--passphrase-file <file>', 'read the passphrase from this file (else $HEALTHCHAIN_PASSPHRASE, else a prompt)')
    .action(async (o: SignOpts) => {
      let base: TxReg | null = null
      if (o.addTo !== undefined) base = await readRecordFile(o.addTo)
      const fresh = o.action !== undefined || o.doctorRecord !== undefined || o.seq !== undefined
      if (base === null && !(o.action !== undefined && o.doctorRecord !== undefined && o.seq !== undefined)) {
        throw new InvalidFieldError('record', 'give --action, --doctor-record and --seq for a new record, or --add-to <file>')
      }
      let fields: { action: RegistryAction, seq: number, identity: Uint8Array, roles: RegistryRole[] } | null = null
      if (fresh) {
        if (o.action !== 'register' && o.action !== 'suspend') throw new InvalidFieldError('--action', 'must be register or suspend')
        const seq = Number(o.seq)
        if (!Number.isInteger(seq) || seq < 1 || seq > 0xffffffff) throw new InvalidFieldError('--seq', `must be a whole number from 1, got ${o.seq}`)
        if (o.doctorRecord === undefined) throw new InvalidFieldError('--doctor-record', 'required for a new record')
        const identity = await hexArg('--doctor-record', o.doctorRecord)
        decodeIdentityRecord(identity) // a forged or malformed identity record is refused here, not by the accounting nodes
        fields = { action: o.action, seq, identity, roles: rolesArg(o.role) }
        if (base !== null && (base.action !== fields.action || base.seq !== fields.seq || !equalBytes(base.identity, fields.identity) || [...(base.roles ?? [])].sort().join() !== [...fields.roles].sort().join())) {
          throw new InvalidFieldError('--add-to', 'the record in the file is another record than --action/--seq/--doctor-record/--role describe')
        }
      }
      const who = await openKeystore(keystorePath(o), await passphrase(o))
      const rec = base !== null ? cosignTxReg(base, [who.signing]) : buildTxReg(fields!, [who.signing])
      const hex = toHex(encodeTx(rec)) + '\n'
      const out = o.out ?? o.addTo
      if (out === undefined) { process.stdout.write(hex); return }
      await writeFileAtomic(resolve(out), hex)
      const d = describe(rec)
      process.stderr.write(`${d.action} ${d.doctor} seq ${d.seq}: ${d.signers.length} signature(s), written to ${out}\n`)
    })

  reg.command('show')
    .argument('<record-file>', 'a record file (from `registry sign`)')
    .option('--json', 'print JSON')
    .description('print what a registry record says and who signed it')
    .action(async (file: string, o: { json?: boolean }) => {
      const d = describe(await readRecordFile(file))
      if (o.json === true) { console.log(JSON.stringify(d)); return }
      console.log(`${d.action} ${d.roles.includes('accounting') ? 'accounting node' : 'doctor'} ${d.doctor}\nx25519   ${d.x25519}\nseq      ${d.seq}${d.roles.length === 0 ? '' : `\nroles    ${d.roles.join(', ')}`}\nsigners  ${d.signers.length === 0 ? '(none)' : d.signers.join('\n         ')}`)
    })

  reg.command('submit')
    .argument('<record-file>', 'a record file signed by m consortium members')
    .requiredOption('--to <multiaddr>', 'an accounting node (`healthchain accounting` prints its address), with /p2p/<peer id>')
    .option('--members <ids>', 'the accounting nodes\' IDs (hex, comma separated): check the commit certificate against them')
    .option('--timeout <ms>', 'how long to wait for the commit', '120000')
    .description('submit a registry record to an accounting node; prints the Dblock it committed in, or why it was refused (exit 1)')
    .action(async (file: string, o: { to: string, members?: string, timeout: string }) => {
      const rec = await readRecordFile(file)
      const bytes = encodeTx(rec)
      const members = o.members === undefined ? null : o.members.split(',').map((m, i) => fromHex(`--members[${i}]`, m.trim()))
      // libp2p is loaded only by the commands that use it
      const { createIpfsLibp2p } = await import('../ipfs/libp2p.ts')
      const { submitDiags, verifyReceipt } = await import('../roles/accounting/diag-protocol.ts')
      const libp2p = await createIpfsLibp2p({ listen: [] })
      try {
        const [r] = await submitDiags(libp2p, o.to, [bytes], { timeoutMs: Number(o.timeout) })
        if (r === undefined) throw new InvalidFieldError('receipt', 'none')
        if (!r.ok) throw new InvalidFieldError('record', `refused (${r.code}): ${r.reason}`)
        if (members !== null) verifyReceipt(r, bytes, members)
        console.log(`committed in Dblock ${r.height} (tx ${toHex(r.id)})${members === null ? '' : `, certificate of ${r.cert.length} accounting nodes verified`}`)
      } finally {
        await libp2p.stop()
      }
    })
}
