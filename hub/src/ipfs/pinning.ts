/**
 * The IPFS Pinning Service API (OpenAPI 3.0.3, spec v1.0.0: the public
 * ipfs/pinning-services-api-spec; DESIGN §6: a consortium that outgrows its
 * Helia storage nodes uses IPFS Cluster or any pinning service through it,
 * and our storage node serves it too). What client (./pinning-client.ts) and
 * server (app/pinning-api.ts) share: the objects of the spec's
 * `components.schemas`, the request schemas (zod, as for every API request
 * here), and Healthchain's identity bearer token.
 *
 * Bearer tokens (spec `securitySchemes.accessToken`): a pinning service's
 * own opaque token, or — for our storage nodes — an identity token
 * `hc1.<base64url(UploadAuth)>`, an UploadAuth (core/upload-auth.ts) of
 * purpose `pinning-token` over the context PINNING_TOKEN_CONTEXT, signed by
 * a user or doctor at most maxSkew seconds ago. A node admits it as it
 * admits a signed upload: the signer must be established on chain.
 */
import {
  decodeUploadAuth, encodeUploadAuth, signUploadAuth, utf8Bytes, verifyUploadAuth, type Identity, type UploadAuth
} from '../core/index.ts'
import { z } from '../config/schema.ts'

/** The spec's `Status`. */
export const PIN_STATES = ['queued', 'pinning', 'pinned', 'failed'] as const
export type PinState = typeof PIN_STATES[number]

/** The spec's `Pin`. */
export interface Pin {
  cid: string
  name?: string
  origins?: string[]
  meta?: Record<string, string>
}

/** The spec's `PinStatus`. */
export interface PinStatus {
  requestid: string
  status: PinState
  /** RFC 3339 date-time. */
  created: string
  pin: Pin
  /** 1–20 multiaddrs that will receive the data (the service's own). */
  delegates: string[]
  info?: Record<string, string>
}

/** The spec's `PinResults`. */
export interface PinResults {
  count: number
  results: PinStatus[]
}

/** The spec's `Failure`. */
export interface Failure {
  error: { reason: string, details?: string }
}

/** A `Pin` in a request body (spec `components.schemas.Pin`: unknown fields allowed). */
export const PinBody = z.object({
  cid: z.string({ error: 'must be a CID string' }).min(1, { error: 'must be a CID string' }),
  name: z.string({ error: 'must be a string' }).max(255, { error: 'at most 255 characters' }).optional(),
  origins: z.array(z.string({ error: 'must be a list of multiaddrs' }), { error: 'must be a list of multiaddrs' }).max(20, { error: 'at most 20 origins' })
    .refine((o) => new Set(o).size === o.length, { error: 'an origin is listed twice' }).optional(),
  meta: z.record(z.string(), z.string({ error: 'meta values must be strings' }), { error: 'must be an object of strings' })
    .refine((m) => Object.keys(m).length <= 1000, { error: 'at most 1000 keys' }).optional()
}, { error: 'must be a Pin object {"cid", "name", "origins", "meta"}' })

const commaList = (what: string, max: number) => z.string().transform((s) => s.split(',').filter((x) => x !== ''))
  .pipe(z.array(z.string()).min(1, { error: `at least one ${what}` }).max(max, { error: `at most ${max} ${what}s` }))
const dateTime = z.iso.datetime({ offset: true, error: 'must be an RFC 3339 date-time' })

/** The query of `GET /pins` (spec `getPins` parameters; arrays are comma-separated, `meta` is JSON). */
export const ListQuery = z.strictObject({
  cid: commaList('CID', 10).optional(),
  name: z.string().max(255, { error: 'at most 255 characters' }).optional(),
  match: z.enum(['exact', 'iexact', 'partial', 'ipartial'], { error: 'must be exact, iexact, partial or ipartial' }).default('exact'),
  status: commaList('status', 4).pipe(z.array(z.enum(PIN_STATES, { error: `must be among ${PIN_STATES.join(', ')}` }))).optional(),
  before: dateTime.optional(),
  after: dateTime.optional(),
  limit: z.coerce.number({ error: 'must be an integer in [1, 1000]' }).int({ error: 'must be an integer in [1, 1000]' }).min(1, { error: 'must be an integer in [1, 1000]' }).max(1000, { error: 'must be an integer in [1, 1000]' }).default(10),
  meta: z.string().transform((s, ctx) => {
    try { return JSON.parse(s) as unknown } catch { ctx.issues.push({ code: 'custom', input: s, message: 'must be a JSON object of strings' }); return z.NEVER }
  }).pipe(z.record(z.string(), z.string(), { error: 'must be a JSON object of strings' })).optional()
}, { error: 'unknown query parameter' })
export type ListQuery = z.output<typeof ListQuery>

// ---- identity tokens ----

export const IDENTITY_TOKEN_PREFIX = 'hc1.'
/** What an identity token signs: the same for every Healthchain pinning endpoint (a token is short-lived instead). */
export const PINNING_TOKEN_CONTEXT = utf8Bytes('healthchain pinning service api')

/** A fresh identity bearer token for `who`, signed at `ts` (seconds). */
export function identityToken (who: Identity, ts: number): string {
  return IDENTITY_TOKEN_PREFIX + Buffer.from(encodeUploadAuth(signUploadAuth(who, 'pinning-token', ts, PINNING_TOKEN_CONTEXT))).toString('base64url')
}

/** The UploadAuth of a valid identity token, else undefined (not such a token: try the static ones); throws on a bad one. */
export function verifyIdentityToken (token: string, now: number, maxSkewSeconds: number): UploadAuth | undefined {
  if (!token.startsWith(IDENTITY_TOKEN_PREFIX)) return undefined
  const auth = decodeUploadAuth(new Uint8Array(Buffer.from(token.slice(IDENTITY_TOKEN_PREFIX.length), 'base64url')))
  verifyUploadAuth(auth, 'pinning-token', PINNING_TOKEN_CONTEXT, now, maxSkewSeconds)
  return auth
}
