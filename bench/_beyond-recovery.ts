/**
 * recovery_ms: how long a fresh hub takes, once 3 of its patient's 5
 * guardians have resealed their shares to its recovery session, to have the
 * identity back and the whole generated history readable.
 * The history (test/helpers/recovery-history.ts, built before the clock):
 * a month — 720 batches, one an hour — on a real core node, a diagnosis a day
 * committed by four PBFT accounting nodes, sealed data on a storage node.
 * The clock starts when `keys recover add` (app/recovery.ts) is handed the
 * three resealed share files, and stops when every batch and every
 * diagnosis has been decrypted. In between: the shares checked and
 * combined, the keystore written (default scrypt), Userchain synced from the
 * network's core node block by block with full validation, every key epoch
 * rebuilt from its tx_keys, every batch fetched from the storage node and
 * opened, every committed Dblock's certificate checked and each diagnosis
 * fetched and opened. Not in it: the guardians' own steps (people), and
 * the libp2p transfer of Ublocks and Dblocks (taken from the nodes' stores).
 * HEALTHCHAIN_RECOVERY_HOURS changes the history's length.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { toHex } from '../hub/src/core/index.ts'
import { addRecoveryShares, resealGuardianShare, startRecovery, writeGuardianShares } from '../hub/src/app/recovery.ts'
import { openKeystore } from '../hub/src/store/keystore.ts'
import { buildHistory, PASSPHRASE, readHistory, syncUserchain } from '../test/helpers/recovery-history.ts'
import { loadAverage } from './_load.ts'

export async function run (): Promise<Record<string, number>> {
  const hours = Number(process.env.HEALTHCHAIN_RECOVERY_HOURS ?? 720)
  const rng = (n: number): Uint8Array => new Uint8Array(randomBytes(n))
  const now = (): number => Math.floor(Date.now() / 1000)
  const dir = await mkdtemp(join(tmpdir(), 'hc-bench-recovery-'))
  const h = await buildHistory(dir, { hours, diagEvery: 24, label: 'bench-rec' })
  try {
    const made = await writeGuardianShares({ keystore: join(h.hubDir, 'keystore.json'), passphrase: PASSPHRASE, guardians: h.guardians.map((g) => g.record), threshold: 3, outDir: join(dir, 'shares'), rng, now })
    await rm(h.hubDir, { recursive: true, force: true })
    const fresh = join(dir, 'new-hub')
    const paths = { dataDir: fresh, keystore: join(fresh, 'keystore.json') }
    const session = await startRecovery({ ...paths, patient: toHex(h.patient.id), passphrase: PASSPHRASE, rng, now })
    const files: string[] = []
    for (const i of [0, 2, 4]) {
      const guardian = await openKeystore(h.guardians[i]!.keystore, PASSPHRASE)
      files.push((await resealGuardianShare({ guardian, share: made.guardians[i]!.file, to: session.record, out: join(dir, `resealed-${i + 1}.json`), rng })).file)
    }
    const t0 = performance.now()
    const done = await addRecoveryShares({ ...paths, passphrase: PASSPHRASE, files })
    const restoredAt = performance.now() - t0
    const patient = await openKeystore(paths.keystore, PASSPHRASE)
    const chainDir = join(fresh, 'userchain', 'devnet')
    await syncUserchain(h.network, chainDir)
    const read = await readHistory(patient, chainDir, h)
    const ms = performance.now() - t0
    if (done.restored.id !== toHex(h.patient.id) || read.batches !== h.batches.length || read.diagnoses !== h.diagnoses.length) {
      throw new Error(`recovery incomplete: ${read.batches}/${h.batches.length} batches, ${read.diagnoses}/${h.diagnoses.length} diagnoses`)
    }
    console.log(`recovery of ${hours} hourly batches, ${h.diagnoses.length} diagnoses, ${h.epochs} key epochs from 3 of 5 shares: identity restored after ${restoredAt.toFixed(0)} ms, history readable after ${ms.toFixed(0)} ms (load ${loadAverage()})`)
    return { recovery_ms: Math.round(ms) }
  } finally {
    await h.stop()
    await rm(dir, { recursive: true, force: true })
  }
}
