/**
 * Errors of the FHIR API: each maps to one HTTP status and is answered as
 * an OperationOutcome (http://hl7.org/fhir/R4/operationoutcome.html) whose
 * issue code (http://hl7.org/fhir/R4/valueset-issue-type.html) says what
 * kind of failure it is.
 */
import { HealthchainError } from '../core/index.ts'

export type IssueCode = 'invalid' | 'not-supported' | 'login' | 'forbidden' | 'suppressed' | 'not-found' | 'too-costly' | 'incomplete' | 'exception' | 'throttled' | 'informational'

export class FhirError extends HealthchainError {
  readonly status: number
  readonly issue: IssueCode
  constructor (code: string, field: string, message: string, status: number, issue: IssueCode) {
    super(code, field, message)
    this.status = status
    this.issue = issue
  }
}

/** A search parameter's value that does not parse, or a combination the server cannot run. */
export class BadSearchError extends FhirError {
  constructor (param: string, why: string) { super('ERR_FHIR_BAD_SEARCH', param, why, 400, 'invalid') }
}

/** A parameter the server does not know, refused because the client asked for strict handling. */
export class UnknownParameterError extends FhirError {
  constructor (param: string, type: string) { super('ERR_FHIR_UNKNOWN_PARAM', param, `${type} has no search parameter ${param} on this server (Prefer: handling=strict)`, 400, 'not-supported') }
}

/** No session cookie or bearer token, or an expired one. */
export class LoginRequiredError extends FhirError {
  constructor (why: string) { super('ERR_FHIR_LOGIN', 'authorization', why, 401, 'login') }
}

/** A patient, or a part of its data, this node may not read: the reason says why (never granted, revoked). */
export class AccessDeniedError extends FhirError {
  constructor (patient: string, why: string) { super('ERR_FHIR_FORBIDDEN', 'patient', `${patient}: ${why}`, 403, 'forbidden') }
}

export class ResourceNotFoundError extends FhirError {
  constructor (type: string, id: string) { super('ERR_FHIR_NOT_FOUND', 'id', `${type}/${id} is not known here`, 404, 'not-found') }
}

/** A resource type or interaction this read-only server does not offer. */
export class NotSupportedError extends FhirError {
  constructor (what: string) { super('ERR_FHIR_NOT_SUPPORTED', 'type', `${what} is not supported by this server (see /metadata)`, 404, 'not-supported') }
}
