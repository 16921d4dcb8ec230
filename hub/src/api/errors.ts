/**
 * Errors of a daemon's local control API: one class per refusal, each with
 * the HTTP status it answers with and the field it names. The server turns
 * any of them into `{ error, field, message }`; the client turns that back
 * into an ApiError, so the CLI prints the same message the daemon gave.
 */
import { WebError } from '../web/errors.ts'

/** A refusal with its HTTP status, as the pages' errors carry one. */
export class ApiError extends WebError {}

/** No `Authorization: Bearer <cookie>` header. */
export class NoCookieError extends ApiError {
  constructor () { super('ERR_API_NO_COOKIE', 'authorization', 'no cookie: send "Authorization: Bearer <the contents of the data dir\'s .cookie file>"', 401) }
}

/** A cookie that is not this daemon's: mistyped, or from an earlier start (the file is rewritten at every start). */
export class BadCookieError extends ApiError {
  constructor () { super('ERR_API_BAD_COOKIE', 'authorization', 'wrong cookie: it is not the one this daemon wrote at its start (the .cookie file is rewritten at every start: read it again)', 401) }
}

/** A client of another Unix user on the control socket (its SO_PEERCRED uid is neither the daemon's nor root's). */
export class OtherUserError extends ApiError {
  constructor (uid: number) { super('ERR_API_OTHER_USER', 'socket', `permission denied: the client runs as ${uid < 0 ? 'an unknown user' : `uid ${uid}`}, not as the daemon's user (the control API answers only the user the daemon runs as: run this command as that user)`, 403) }
}

/** The request body is not JSON, too large, or fails the route's schema. */
export class MalformedRequestError extends ApiError {
  constructor (field: string, why: string, status = 400) { super('ERR_API_MALFORMED', field, why, status) }
}

export class NoRouteError extends ApiError {
  constructor (method: string, path: string) { super('ERR_API_NO_ROUTE', 'path', `no ${method} ${path} (GET /v1/openapi.json lists the routes)`, 404) }
}

export class ApiNotFoundError extends ApiError {
  constructor (field: string, what: string) { super('ERR_NOT_FOUND', field, `${what} not found`, 404) }
}

/** The daemon refused a state change (a tx the node rejected, a doctor already granted…). */
export class ApiConflictError extends ApiError {
  constructor (code: string, field: string, why: string) { super(code, field, why, 409) }
}

/** Client side: no daemon answers on the data dir's socket (it is stopped). */
export class DaemonNotRunningError extends ApiError {
  constructor (socket: string) { super('ERR_API_NOT_RUNNING', 'socket', `no daemon answers on ${socket}`, 503) }
}

/** Client side: the socket or cookie belongs to another Unix user. */
export class ApiAccessError extends ApiError {
  constructor (path: string, why: string) { super('ERR_API_ACCESS', 'socket', `${path}: ${why} (the control API answers only the user the daemon runs as: run this command as that user)`, 403) }
}
