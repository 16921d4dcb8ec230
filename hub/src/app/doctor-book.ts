/**
 * The doctors this user knows by their identity records (public: an ID
 * bound to its X25519 key, paper §IV-B5), kept in <dataDir>/doctors.json.
 * A grant names a doctor by record (learned here) or by ID (known here or
 * from the Docchain registry); a revocation re-seals the epoch's keys to
 * every remaining doctor, so each must resolve.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeIdentityRecord, fromHex, InvalidFieldError, toHex, type DoctorKey } from '../core/index.ts'
import { writeFileAtomic } from '../store/keystore.ts'

export class DoctorBook {
  readonly file: string
  readonly #records: string[]
  readonly #keys = new Map<string, DoctorKey>()

  private constructor (file: string, records: string[]) {
    this.file = file
    this.#records = records
    for (const h of records) { const r = decodeIdentityRecord(fromHex('doctors.json', h)); this.#keys.set(toHex(r.id), { id: r.id, x25519: r.x25519 }) }
  }

  static async load (dataDir: string): Promise<DoctorBook> {
    const file = join(dataDir, 'doctors.json')
    let records: string[] = []
    try { records = JSON.parse(await readFile(file, 'utf8')) as string[] } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new InvalidFieldError('doctors.json', `unreadable: ${(err as Error).message}`)
    }
    if (!Array.isArray(records) || !records.every((r) => typeof r === 'string')) throw new InvalidFieldError('doctors.json', 'must be a list of identity records (hex)')
    return new DoctorBook(file, records)
  }

  lookup (id: Uint8Array): DoctorKey | undefined { return this.#keys.get(toHex(id)) }

  get size (): number { return this.#keys.size }

  /**
   * The doctor a grant names: an identity record (hex, from `keys
   * export-public`; its signature checked, then kept in doctors.json) or an
   * ID (64 hex digits).
   */
  async learn (doctor: string): Promise<Uint8Array> {
    const hex = doctor.trim()
    if (/^[0-9a-fA-F]{64}$/.test(hex)) return fromHex('doctor', hex)
    const rec = decodeIdentityRecord(fromHex('doctor', hex))
    const key = toHex(rec.id)
    if (!this.#keys.has(key)) {
      await writeFileAtomic(this.file, JSON.stringify([...this.#records, hex.toLowerCase()], null, 2) + '\n')
      this.#records.push(hex.toLowerCase())
      this.#keys.set(key, { id: rec.id, x25519: rec.x25519 })
    }
    return rec.id
  }
}
