/** Errors of the hub's files beyond the stores: guardian and recovery share files, the recovery session. */
import { HealthchainError } from '../core/index.ts'

/** A share file that is not JSON of the expected kind, or whose envelope does not decode. */
export class ShareFileError extends HealthchainError {
  constructor (file: string, why: string) { super('ERR_SHARE_FILE', 'file', `${file}: ${why}`) }
}

/** `keys recover add|status` without `keys recover start` first (or after the recovery finished). */
export class NoRecoverySessionError extends HealthchainError {
  constructor (dir: string) { super('ERR_NO_RECOVERY_SESSION', 'session', `no recovery session in ${dir}: start one with \`healthchain keys recover start --patient <your ID>\``) }
}

/** `keys recover start` while a session is open: starting again would discard the shares resealed to it. */
export class RecoverySessionExistsError extends HealthchainError {
  constructor (dir: string) { super('ERR_RECOVERY_SESSION_EXISTS', 'session', `a recovery session is already open in ${dir}: add shares to it, or pass --restart to discard it (shares resealed to it are then refused)`) }
}

/** A recovered identity's hub started before its Userchain holds the patient's key epochs: it would open a new epoch 1 and seal under keys the chain does not know. */
export class RecoveredNotSyncedError extends HealthchainError {
  constructor (dir: string) { super('ERR_RECOVERED_NOT_SYNCED', 'userchain', `the identity in ${dir} was recovered or restored from a backup, and this data dir's Userchain does not hold its key epochs yet: sync it first (healthchain node --data-dir ${dir} --bootstrap <peer>, until its tip matches the network's), then start the hub`) }
}

/** What only a core user node does (mine, keep other users' transactions and balances), asked of a light hub. */
export class LightModeError extends HealthchainError {
  constructor (what: string) { super('ERR_LIGHT_MODE', 'mode', `a light hub keeps only Userchain headers and its user's own transactions: ${what}`) }
}

/** A restore onto a data dir (or config file) that already holds something, without --force. */
export class RestoreTargetError extends HealthchainError {
  constructor (path: string, why: string) { super('ERR_RESTORE_TARGET', 'target', `${path} ${why}`) }
}

/** A withdrawal of consent without its confirmation: it cannot be undone. */
export class WithdrawalUnconfirmedError extends HealthchainError {
  constructor () { super('ERR_WITHDRAWAL_UNCONFIRMED', 'confirm', 'withdrawing consent destroys this hub\'s keys for good and asks the storage nodes to drop your data; it cannot be undone. Confirm it (healthchain withdraw --yes-destroy-my-data, or the page\'s confirmation box)') }
}

/** A hub started on a data dir whose patient withdrew consent: its keys are destroyed. */
export class ConsentWithdrawnDataDirError extends HealthchainError {
  constructor (dir: string, when: string) { super('ERR_WITHDRAWN_DATA_DIR', 'dataDir', `the patient of ${dir} withdrew consent on ${when}: its keys are destroyed and nothing in it can be read again. A new start needs a new identity in a fresh data dir (healthchain keys new --data-dir <new dir>)`) }
}

/** The hub's clock is off beyond the network's drift rule (app/clock.ts): it does not sign what the network would refuse. */
export class ClockOffError extends HealthchainError {
  constructor (what: string, why: string) { super('ERR_CLOCK_OFF', 'clock', `not signing ${what}: ${why}`) }
}
