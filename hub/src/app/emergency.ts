/**
 * The patient's side of emergency access (README "Emergency access"):
 * whether the patient opted in — the config's `emergencyAccess.optIn` until
 * the patient changes it on the page or through the API, then what it chose,
 * kept in <dataDir>/emergency-access.json — the escrow policy UserKeys asks
 * for at each tx_key (the accounting nodes' X25519 keys from their identity
 * records in the registry folded from Docchain; t = 2f+1 of n = 3f+1: more
 * than the f faulty nodes PBFT tolerates, and no more than the n − f that
 * stay up), and every emergency access Docchain audited for this patient.
 * Changing the choice renews the IoT key at once (a rotation), so the data
 * sealed from then on is escrowed — or no longer is.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { equalBytes, toHex, type Identity } from '../core/index.ts'
import type { DoctorRegistry, EmergencyAccess } from '../core/pbft/registry.ts'
import { writeFileAtomic } from '../store/keystore.ts'
import type { EscrowPolicy } from '../roles/user/keys.ts'

/** One emergency access to the patient's data, as the page and the API show it. */
export interface EmergencyAccessInfo {
  /** htx_em (hex) */
  readonly id: string
  /** the emergency doctor's ID (hex) */
  readonly doctor: string
  /** the doctor's timestamp of the request (s) */
  readonly ts: number
  /** gtime of the Dblock that committed it (s), when the follower saw it */
  readonly committed: number | null
  readonly reason: string
  readonly epochs: readonly number[]
  /** accounting nodes (hex IDs) that released their shares, in Docchain order */
  readonly released: readonly string[]
}

export interface EmergencyStatus {
  readonly optIn: boolean
  /** t of n: the accounting nodes the next tx_key escrows to (n = 0 without a followed Docchain publishing them) */
  readonly threshold: number
  readonly members: number
  /** every emergency access to this patient's data, oldest first */
  readonly accesses: readonly EmergencyAccessInfo[]
}

export interface EmergencyService {
  status: () => Promise<EmergencyStatus>
  /** Opts in or out; renews the IoT key (a rotation) when there is a key epoch already, and answers its epoch and tx_key id (htxk, hex). */
  setOptIn: (on: boolean) => Promise<EmergencyStatus & { readonly epoch?: number, readonly tx?: string }>
}

/** t for n accounting nodes: 2f+1 with f = ⌊(n−1)/3⌋, at least 2 (null below 2 nodes: no escrow possible). */
export function escrowThreshold (n: number): number | null {
  if (n < 2) return null
  return Math.min(n, Math.max(2, 2 * Math.floor((n - 1) / 3) + 1))
}

export function emergencyAccessInfo (a: EmergencyAccess): EmergencyAccessInfo {
  return { id: a.id, doctor: toHex(a.request.doctor), ts: a.request.ts, committed: a.gtime, reason: a.request.reason, epochs: [...a.request.epochs], released: [...a.released] }
}

const FILE = 'emergency-access.json'

export async function openEmergency (o: {
  readonly dataDir: string
  readonly user: Identity
  /** The config's choice, until the patient changes it. */
  readonly optIn: boolean
  /** The registry folded from the followed Docchain (null without one). */
  readonly registry: () => DoctorRegistry | null
  /** Renews the IoT key now (null before the first epoch). */
  readonly rotate: () => Promise<{ readonly epoch: number, readonly tx: string }> | null
}): Promise<{ readonly service: EmergencyService, readonly policy: () => EscrowPolicy | null }> {
  const file = join(o.dataDir, FILE)
  let optIn = o.optIn
  if (existsSync(file)) optIn = (JSON.parse(await readFile(file, 'utf8')) as { optIn: boolean }).optIn === true
  const policy = (): EscrowPolicy | null => {
    const reg = o.registry()
    if (!optIn || reg === null) return null
    const members = reg.accounting().map((r) => ({ id: r.id, x25519: r.x25519 }))
    const threshold = escrowThreshold(members.length)
    return threshold === null ? null : { threshold, members }
  }
  const status = async (): Promise<EmergencyStatus> => {
    const reg = o.registry()
    const n = reg?.accounting().length ?? 0
    const accesses = (reg?.emergencyAccesses() ?? []).filter((a) => equalBytes(a.request.patient, o.user.id)).map(emergencyAccessInfo)
    return { optIn, threshold: escrowThreshold(n) ?? 0, members: n, accesses }
  }
  const service: EmergencyService = {
    status,
    setOptIn: async (on) => {
      const changed = on !== optIn
      optIn = on
      await writeFileAtomic(file, JSON.stringify({ optIn }), 0o600)
      const renewed = changed ? await o.rotate() : null
      return { ...await status(), ...(renewed === null ? {} : { epoch: renewed.epoch, tx: renewed.tx }) }
    }
  }
  return { service, policy }
}
