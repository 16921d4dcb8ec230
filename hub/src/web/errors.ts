/** Errors of the hub's web pages: each maps to one HTTP status. */
import { HealthchainError } from '../core/index.ts'

export class WebError extends HealthchainError {
  readonly status: number
  constructor (code: string, field: string, message: string, status: number) {
    super(code, field, message)
    this.status = status
  }
}

/** The login file is missing fields, unreadable or readable by others. */
export class WebCredentialsError extends WebError {
  constructor (path: string, why: string) { super('ERR_WEB_CREDENTIALS', 'path', `${path}: ${why}`, 500) }
}

export class NotFoundError extends WebError {
  constructor (what: string) { super('ERR_NOT_FOUND', 'id', `${what} not found`, 404) }
}

export class BadRequestError extends WebError {
  constructor (field: string, why: string) { super('ERR_BAD_REQUEST', field, why, 400) }
}

/** A review is being signed by another request. */
export class ConflictError extends WebError {
  constructor (why: string) { super('ERR_CONFLICT', 'id', why, 409) }
}
