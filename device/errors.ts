/**
 * Typed errors of the device tool chain (DESIGN §7): building sketches for
 * Espruino and flashing them with the espruino CLI.
 */
import { HealthchainError } from '../hub/src/core/errors.ts'

/** One problem in a sketch: where and what. */
export interface SketchProblem {
  file: string
  line: number
  column: number
  message: string
}

function describe (problems: SketchProblem[]): string {
  return problems.map(p => `${p.file}:${p.line}:${p.column} ${p.message}`).join('\n')
}

/** TypeScript rejected the sketch (type errors, or syntax Espruino lacks). */
export class SketchCompileError extends HealthchainError {
  readonly problems: SketchProblem[]
  constructor (sketch: string, problems: SketchProblem[]) {
    super('ERR_SKETCH_COMPILE', sketch, `does not build for Espruino:\n${describe(problems)}`)
    this.problems = problems
  }
}

/** The emitted file is not ES5 (acorn, ecmaVersion 5). */
export class NotEs5Error extends HealthchainError {
  constructor (file: string, line: number, column: number, why: string) {
    super('ERR_NOT_ES5', file, `is not ES5 at ${line}:${column}: ${why}`)
  }
}

/** No such sketch in device/src. */
export class UnknownSketchError extends HealthchainError {
  constructor (sketch: string, known: string[]) {
    super('ERR_UNKNOWN_SKETCH', sketch, `no such sketch; one of ${known.join(', ')}`)
  }
}

/** No such board profile in hardware/boards. */
export class UnknownBoardError extends HealthchainError {
  constructor (board: string, known: string[]) {
    super('ERR_UNKNOWN_BOARD', board, `no such board profile; one of ${known.join(', ')}`)
  }
}

/** The espruino CLI did not upload (its exit status is 0 anyway, so we read its output). */
export class FlashError extends HealthchainError {
  readonly output: string
  constructor (port: string, why: string, output: string) {
    super('ERR_FLASH', port, why)
    this.output = output
  }
}
