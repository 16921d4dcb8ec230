/**
 * The policy for a new keystore passphrase (the key that protects a
 * patient's health data, paper §V-A): at least MIN_LENGTH characters and a
 * strength estimate of at least MIN_SCORE on zxcvbn's 0–4 scale (≥ 10^8
 * guesses: an attacker with the keystore file must run scrypt that often).
 * zxcvbn-ts (with its common and English dictionaries) estimates guesses
 * from dictionary words, names, keyboard patterns, dates and repeats, so
 * "password1234" fails where a length rule alone would pass it.
 */
import { HealthchainError } from '../core/index.ts'

export const MIN_LENGTH = 12
export const MIN_SCORE = 3

export class WeakPassphraseError extends HealthchainError {
  constructor (why: string) { super('ERR_WEAK_PASSPHRASE', 'passphrase', `too weak for the key that protects health data: ${why}. Use at least ${MIN_LENGTH} characters that are hard to guess, e.g. four or five random words`) }
}

let estimator: ((p: string) => { score: number, warning: string | null, suggestions: string[] }) | undefined

async function estimate (p: string): Promise<{ score: number, warning: string | null, suggestions: string[] }> {
  if (estimator === undefined) {
    // the dictionaries are a few MB: loaded only when a keystore is created
    const [{ ZxcvbnFactory }, common, en] = await Promise.all([import('@zxcvbn-ts/core'), import('@zxcvbn-ts/language-common'), import('@zxcvbn-ts/language-en')])
    const z = new ZxcvbnFactory({ dictionary: { ...common.dictionary, ...en.dictionary }, graphs: common.adjacencyGraphs, translations: en.translations })
    estimator = (s) => { const r = z.check(s); return { score: r.score, warning: r.feedback.warning, suggestions: r.feedback.suggestions } }
  }
  return estimator(p)
}

/** Throws WeakPassphraseError saying why, unless `p` meets the policy. */
export async function checkNewPassphrase (p: string): Promise<void> {
  const chars = [...p].length
  if (chars < MIN_LENGTH) throw new WeakPassphraseError(`${chars} character(s), at least ${MIN_LENGTH} needed`)
  const r = await estimate(p)
  if (r.score < MIN_SCORE) throw new WeakPassphraseError([r.warning, ...r.suggestions].filter((x) => x !== null && x !== '').join(' ') || 'easy to guess')
}
