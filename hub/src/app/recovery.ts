/**
 * Guardians and recovery on disk (README "Guardians and recovery"): the
 * guardian share files the patient hands out, the guardian's reseal, and
 * the recovery session on the new hub's data dir —
 *   <dataDir>/recovery/session-keystore.json  the temporary identity, encrypted with the passphrase (store/keystore.ts)
 *   <dataDir>/recovery/session.json           patient, session record, the recovery shares accepted so far
 * Every share is checked again when the session is reloaded. Once m shares
 * combine to the patient's identity, its seed is saved as the data dir's
 * keystore (same passphrase) and the session is deleted, temporary key and
 * all, so shares resealed to it can never be used again.
 */
import { readFile, rm, mkdir, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import {
  buildIdentityRecord, decodeGuardianShare, decodeIdentityRecord, decodeRecoveryShare, encodeGuardianShare, encodeIdentityRecord, encodeRecoveryShare,
  fromHex, HealthchainError, identityFromSeed, InvalidFieldError, resealShare, toHex, type GuardianShare, type Identity, type IdentityRecord, type RecoveryShare
} from '../core/index.ts'
import { KeystoreExistsError, openKeystore, openKeystoreSeed, saveKeystore, writeFileAtomic, type ScryptParams } from '../store/keystore.ts'
import { ShareCollector, splitIdentity } from '../roles/user/recovery.ts'
import { NotEnoughSharesError } from '../roles/user/errors.ts'
import { NoRecoverySessionError, RecoveredNotSyncedError, RecoverySessionExistsError, ShareFileError } from './errors.ts'

export interface Randomness {
  readonly rng: (n: number) => Uint8Array
  readonly now: () => number
}

const GUARDIAN_KIND = 'healthchain-guardian-share'
const RECOVERY_KIND = 'healthchain-recovery-share'

interface ShareFileJson { kind: string, version: 1, patient: string, set: string, index: number, of: number, threshold: number, guardian: string, session?: string, envelope: string }

function describe (kind: string, s: GuardianShare | RecoveryShare): ShareFileJson {
  const g = s.set.guardians[s.index - 1]!
  return { kind, version: 1, patient: toHex(s.set.patient), set: toHex(s.set.setId), index: s.index, of: s.set.guardians.length, threshold: s.set.threshold, guardian: toHex(g.id), ...('session' in s ? { session: toHex(s.session) } : {}), envelope: '' }
}

/** A share file's envelope (the other fields say what it is, for people; only the envelope counts). */
async function readShareFile<T> (file: string, kind: string, decode: (b: Uint8Array) => T): Promise<T> {
  let raw: string
  try { raw = await readFile(file, 'utf8') } catch (err) { throw new ShareFileError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message) }
  let j: Partial<ShareFileJson>
  try { j = JSON.parse(raw) as Partial<ShareFileJson> } catch { throw new ShareFileError(file, 'not JSON') }
  if (j?.kind !== kind) throw new ShareFileError(file, `not a ${kind} file${typeof j?.kind === 'string' ? ` (it is a ${j.kind})` : ''}`)
  if (typeof j.envelope !== 'string') throw new ShareFileError(file, 'no envelope')
  return decode(fromHex('envelope', j.envelope))
}

function record (hex: string, field: string): IdentityRecord {
  try { return decodeIdentityRecord(fromHex(field, hex.trim())) } catch (err) {
    if (err instanceof HealthchainError) throw new InvalidFieldError(field, `not an identity record (hex, from \`keys export-public\`): ${err.message}`)
    throw err
  }
}

export interface GuardiansResult {
  readonly patient: string
  readonly set: string
  readonly threshold: number
  readonly guardians: ReadonlyArray<{ readonly index: number, readonly id: string, readonly file: string }>
}

/**
 * `keys guardians`: splits the keystore's seed m-of-n among the guardians'
 * identity records and writes one file per guardian (0600) into `outDir`.
 */
export async function writeGuardianShares (o: { keystore: string, passphrase: string, guardians: readonly string[], threshold: number, outDir: string } & Randomness): Promise<GuardiansResult> {
  const records = o.guardians.map((g, i) => record(g, `guardians[${i}]`))
  const seed = await openKeystoreSeed(o.keystore, o.passphrase)
  let made: Awaited<ReturnType<typeof splitIdentity>>
  try { made = await splitIdentity(seed, records, { threshold: o.threshold, rng: o.rng, now: o.now }) } finally { seed.fill(0) }
  await mkdir(o.outDir, { recursive: true, mode: 0o700 })
  const set = toHex(made.set.setId)
  const out = []
  for (const s of made.shares) {
    const id = toHex(made.set.guardians[s.index - 1]!.id)
    const file = join(o.outDir, `share-${set.slice(0, 8)}-${s.index}-of-${made.shares.length}-${id.slice(0, 8)}.json`)
    await writeFileAtomic(file, JSON.stringify({ ...describe(GUARDIAN_KIND, s), envelope: toHex(encodeGuardianShare(s)) }, null, 2) + '\n')
    out.push({ index: s.index, id, file })
  }
  return { patient: toHex(made.set.patient), set, threshold: made.set.threshold, guardians: out }
}

export interface ResealResult { readonly patient: string, readonly set: string, readonly index: number, readonly session: string, readonly file: string }

/** `keys guardian-reseal`: the guardian reseals its share to a recovery session's temporary record. */
export async function resealGuardianShare (o: { guardian: Identity, share: string, to: string, out: string } & Pick<Randomness, 'rng'>): Promise<ResealResult> {
  const share = await readShareFile(o.share, GUARDIAN_KIND, decodeGuardianShare)
  const to = record(o.to, 'to')
  const r = resealShare(o.guardian, share, to, o.rng(32))
  await writeFileAtomic(o.out, JSON.stringify({ ...describe(RECOVERY_KIND, r), envelope: toHex(encodeRecoveryShare(r)) }, null, 2) + '\n')
  return { patient: toHex(r.set.patient), set: toHex(r.set.setId), index: r.index, session: toHex(r.session), file: o.out }
}

interface SessionJson { kind: 'healthchain-recovery-session', version: 1, patient: string, session: string, record: string, shares: string[] }

export interface RecoveryStatus {
  readonly patient: string
  /** The session's temporary identity record (hex): what each guardian reseals to. */
  readonly record: string
  readonly session: string
  readonly set: string | null
  readonly have: readonly number[]
  readonly need: number | null
}

export interface RecoveryPaths { readonly dataDir: string, readonly keystore: string }

const sessionDir = (p: RecoveryPaths): string => join(p.dataDir, 'recovery')
const RECOVERED = 'recovered.json'
const exists = async (f: string): Promise<boolean> => await stat(f).then(() => true, () => false)

/** `keys recover start`: a recovery session with a fresh temporary identity, encrypted with the passphrase. */
export async function startRecovery (p: RecoveryPaths & { patient: string, passphrase: string, restart?: boolean, scrypt?: ScryptParams } & Randomness): Promise<RecoveryStatus> {
  const patient = fromHex('patient', p.patient.trim())
  if (patient.length !== 32) throw new InvalidFieldError('patient', 'must be the patient\'s ID: 64 hex digits')
  if (await exists(p.keystore)) throw new KeystoreExistsError(p.keystore)
  const dir = sessionDir(p)
  if (await exists(join(dir, 'session.json'))) {
    if (p.restart !== true) throw new RecoverySessionExistsError(dir)
    await rm(dir, { recursive: true, force: true })
  }
  await mkdir(dir, { recursive: true, mode: 0o700 })
  const seed = p.rng(32)
  const temp = await saveKeystore(join(dir, 'session-keystore.json'), seed, p.passphrase, p.scrypt === undefined ? {} : { scrypt: p.scrypt })
  seed.fill(0)
  const rec = toHex(encodeIdentityRecord(buildIdentityRecord(temp, p.now())))
  const s: SessionJson = { kind: 'healthchain-recovery-session', version: 1, patient: toHex(patient), session: toHex(temp.id), record: rec, shares: [] }
  await writeFileAtomic(join(dir, 'session.json'), JSON.stringify(s, null, 2) + '\n')
  return { patient: s.patient, record: rec, session: s.session, set: null, have: [], need: null }
}

async function loadSession (p: RecoveryPaths): Promise<SessionJson> {
  const file = join(sessionDir(p), 'session.json')
  let raw: string
  try { raw = await readFile(file, 'utf8') } catch { throw new NoRecoverySessionError(p.dataDir) }
  let j: SessionJson
  try { j = JSON.parse(raw) as SessionJson } catch { throw new ShareFileError(file, 'not JSON: start the session again (keys recover start --restart)') }
  if (j?.kind !== 'healthchain-recovery-session' || !Array.isArray(j.shares) || typeof j.patient !== 'string' || typeof j.record !== 'string') throw new ShareFileError(file, 'not a recovery session: start the session again (keys recover start --restart)')
  return j
}

function statusOf (s: SessionJson, c: ShareCollector | null, have: number[]): RecoveryStatus {
  const set = c?.shareSet ?? null
  return { patient: s.patient, record: s.record, session: s.session, set: set === null ? null : toHex(set.setId), have: [...have].sort((a, b) => a - b), need: set?.threshold ?? null }
}

/** Where the session is; reads no secret (no passphrase). */
export async function recoveryStatus (p: RecoveryPaths): Promise<RecoveryStatus> {
  const s = await loadSession(p)
  const shares = s.shares.map((h) => decodeRecoveryShare(fromHex('share', h)))
  return { ...statusOf(s, null, shares.map((x) => x.index)), set: shares[0] === undefined ? null : toHex(shares[0].set.setId), need: shares[0]?.set.threshold ?? null }
}

export interface AddResult extends RecoveryStatus {
  /** The shares of this call, by file, that were accepted. */
  readonly added: ReadonlyArray<{ readonly file: string, readonly index: number }>
  /** The identity m shares rebuilt: the keystore written. */
  readonly restored: { readonly id: string, readonly keystore: string }
}

/**
 * `keys recover add`: checks each recovery share file and keeps it; a
 * refused one stops the call with its reason (those accepted before it stay
 * collected). With m shares the identity is restored; with fewer the call
 * refuses (NotEnoughSharesError) and keeps what it accepted.
 */
export async function addRecoveryShares (p: RecoveryPaths & { passphrase: string, files: readonly string[], scrypt?: ScryptParams }): Promise<AddResult> {
  const s = await loadSession(p)
  const dir = sessionDir(p)
  const temp = await openKeystore(join(dir, 'session-keystore.json'), p.passphrase)
  const c = new ShareCollector(temp, fromHex('patient', s.patient))
  for (const h of s.shares) c.add(decodeRecoveryShare(fromHex('share', h)))
  const have = s.shares.map((h) => decodeRecoveryShare(fromHex('share', h)).index)
  const added: Array<{ file: string, index: number }> = []
  const save = async (): Promise<void> => { await writeFileAtomic(join(dir, 'session.json'), JSON.stringify(s, null, 2) + '\n') }
  for (const file of p.files) {
    try {
      const r = await readShareFile(file, RECOVERY_KIND, decodeRecoveryShare)
      c.add(r)
      s.shares.push(toHex(encodeRecoveryShare(r)))
      have.push(r.index)
      added.push({ file: basename(file), index: r.index })
    } catch (err) {
      if (added.length > 0) await save()
      throw err
    }
    if (c.ready) break
  }
  if (added.length > 0) await save()
  // fewer than m: nothing is combined (they reveal nothing); the accepted shares stay in the session for the next add
  if (!c.ready) throw new NotEnoughSharesError(c.have, c.need ?? 2, 'they stay collected in this session: add the others\' shares')
  const seed = await c.combine()
  try {
    const who = identityFromSeed(seed)
    await saveKeystore(p.keystore, seed, p.passphrase, p.scrypt === undefined ? {} : { scrypt: p.scrypt })
    // until Userchain is synced, the hub must not start (checkRecoveredSync)
    await markNeedsSync(p.dataDir, toHex(who.id), 1)
    await rm(dir, { recursive: true, force: true })
    return { ...statusOf(s, c, have), added, restored: { id: toHex(who.id), keystore: p.keystore } }
  } finally {
    seed.fill(0)
  }
}

/**
 * Marks a data dir whose identity came back (recovered from guardians'
 * shares, or restored from a backup without its Userchain): the hub must
 * not start before its Userchain holds the patient's key epoch `epoch`.
 */
export async function markNeedsSync (dataDir: string, patient: string, epoch: number): Promise<void> {
  await writeFileAtomic(join(dataDir, RECOVERED), JSON.stringify({ patient, epoch }) + '\n')
}

/**
 * Before the hub's first start on a recovered or restored data dir: a hub
 * that finds no key epoch of its user opens epoch 1, so one started before
 * Userchain is synced would seal under keys the chain never holds. Refuses
 * while the data dir's chain holds less than the marked epoch (`latestEpoch`
 * reads it); once it does, the mark is removed and later starts skip the check.
 */
export async function checkRecoveredSync (dataDir: string, latestEpoch: () => Promise<number>): Promise<void> {
  const mark = join(dataDir, RECOVERED)
  if (!await exists(mark)) return
  const want = (JSON.parse(await readFile(mark, 'utf8')) as { epoch?: unknown }).epoch
  if (await latestEpoch() < (typeof want === 'number' && want > 0 ? want : 1)) throw new RecoveredNotSyncedError(dataDir)
  await rm(mark, { force: true })
}
