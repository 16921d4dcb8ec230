/**
 * The control API of the doctor, storage and accounting daemons (v1): their
 * service layers (app/doctor.ts, app/storage.ts, app/accounting.ts) route by route, as the hub's are
 * in hub-routes.ts, served by the same server (server.ts: socket, cookie,
 * validation, counted refusals).
 */
import { z } from '../config/schema.ts'
import type { DoctorDaemon } from '../app/doctor.ts'
import type { StorageDaemon } from '../app/storage.ts'
import type { AccountingDaemon } from '../app/accounting.ts'
import { SEVERITIES } from '../web/model.ts'
import { MAX_EMERGENCY_EPOCHS, MAX_REASON_BYTES } from '../core/index.ts'
import { hex32, route, type Route } from './route.ts'

export function doctorRoutes (d: DoctorDaemon): Route[] {
  return [
    route({ method: 'GET', path: '/v1/status', summary: 'Userchain, Docchain standing, patients, review queue, tx_diag counts', handler: async () => await d.status() }),
    route({ method: 'GET', path: '/v1/patients', summary: 'users whose key epochs grant this doctor', handler: async () => await d.patients() }),
    route({ method: 'GET', path: '/v1/queue', summary: 'analysed batches waiting for review (mode human), most severe first', handler: async () => await d.queue() }),
    route({
      method: 'POST',
      path: '/v1/queue/{id}/sign',
      summary: 'sign a queued review, as is or amended, and send its tx_diag (the doctor page\'s sign button)',
      params: z.strictObject({ id: hex32('review id') }),
      body: z.strictObject({ severity: z.enum(SEVERITIES as [string, ...string[]], { error: `must be one of ${SEVERITIES.join(', ')}` }).optional(), note: z.string().max(2000, { error: 'at most 2000 characters' }).optional() }, { error: 'must be a JSON object {"severity", "note"}' }),
      handler: async ({ params, body }) => ({ htxd: await d.sign(params.id, body.severity === undefined && body.note === undefined ? undefined : body as never) })
    }),
    route({ method: 'GET', path: '/v1/diagnoses', summary: 'every tx_diag signed, with its receipt once committed; newest first', handler: async () => await d.diagnoses() }),
    route({ method: 'GET', path: '/v1/emergency', summary: 'every emergency access this doctor asked (README "Emergency access"), newest first: patient, epochs, reason, status (submitted, committed, open), the accounting nodes that released, the batches read and the analyzer\'s reading of them', handler: async () => await d.emergency.list() }),
    route({
      method: 'POST',
      path: '/v1/emergency',
      summary: 'ask for emergency access to a patient\'s escrowed epochs (a doctor with the emergency role): a tx_emergency committed on Docchain; once t accounting nodes released their shares the daemon opens those epochs and reads their batches (no tx_diag: the access grants no diagnosis key)',
      body: z.strictObject({
        patient: hex32('patient ID').describe('the patient\'s ID'),
        epochs: z.array(z.int({ error: 'must be a key epoch ≥ 1' }).min(1, { error: 'must be a key epoch ≥ 1' }).max(0xffffffff, { error: 'must be a key epoch ≥ 1' }), { error: 'must be a list of key epochs' })
          .min(1, { error: 'must name at least one epoch' }).max(MAX_EMERGENCY_EPOCHS, { error: `at most ${MAX_EMERGENCY_EPOCHS} epochs` }).describe('the key epochs asked (escrowed: opened after the patient opted in)'),
        reason: z.string({ error: `must be the reason, 1–${MAX_REASON_BYTES} bytes of UTF-8` }).min(1, { error: `must be the reason, 1–${MAX_REASON_BYTES} bytes of UTF-8` }).describe('why (audited on Docchain, shown to the patient)').refine((r) => r.length > 0 && Buffer.byteLength(r) <= MAX_REASON_BYTES, { error: `must be the reason, 1–${MAX_REASON_BYTES} bytes of UTF-8` })
      }, { error: 'must be a JSON object {"patient", "epochs", "reason"}' }),
      handler: async ({ body }) => await d.emergency.request(body.patient, body.epochs, body.reason)
    })
  ]
}

export function storageRoutes (s: StorageDaemon): Route[] {
  return [
    route({ method: 'GET', path: '/v1/status', summary: 'peer, pinned / pending / failed counts, Userchain height', handler: async () => await s.status() }),
    route({ method: 'GET', path: '/v1/cids/{cid}', summary: 'what this node knows of one CID', params: z.strictObject({ cid: z.string().regex(/^[a-z2-7]{8,120}$/, { error: 'must be a CIDv1 (base32)' }) }), handler: async ({ params }) => await s.cid(params.cid) }),
    route({ method: 'GET', path: '/v1/failed', summary: 'CIDs whose fetch failed', handler: async () => await s.failed() }),
    route({ method: 'POST', path: '/v1/failed/retry', summary: 'fetch the failed CIDs again now', body: z.strictObject({}, { error: 'must be an empty JSON object' }), handler: async () => await s.retryFailed() }),
    route({ method: 'GET', path: '/v1/audit', summary: 'check every pin against its block', handler: async () => await s.audit() })
  ]
}

export function accountingRoutes (a: AccountingDaemon): Route[] {
  return [
    route({ method: 'GET', path: '/v1/status', summary: 'member, view and leader, committed Docchain height and tip, Userchain copy, peers, PBFT state', handler: async () => await a.status() }),
    route({ method: 'GET', path: '/v1/members', summary: 'the accounting nodes in leader order, the current view\'s leader marked', handler: async () => await a.members() }),
    route({ method: 'GET', path: '/v1/dblocks/{height}', summary: 'a committed Dblock: header, tx_diag ids, certificate signers', params: z.strictObject({ height: z.string().regex(/^\d{1,10}$/, { error: 'must be a Dblock height' }) }), handler: async ({ params }) => await a.block(Number(params.height)) })
  ]
}
