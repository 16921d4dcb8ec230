/**
 * Physiological sensor models for hardware-in-the-loop tests: a patient
 * whose vital signs follow a scenario (normal, or the abnormal patterns the
 * analyzer must catch: tachycardia, desaturation, fever, fall), and the
 * signals real sensors see — a photoplethysmogram (PPG) for pulse oximeters,
 * an ECG for analog front ends, acceleration for fall detectors.
 *
 * Deterministic: every signal is a function of t (seconds since the model
 * started), so a test can compare what a device reported with the model.
 * Normal adult ranges follow the NEWS2 chart (RCP 2017); the synthetic ECG
 * is a sum of Gaussian P, Q, R, S, T waves over each beat (McSharry et al.,
 * IEEE TBME 50(3), 2003, simplified to fixed positions in the beat).
 */

export const SCENARIOS = ['normal', 'tachycardia', 'desaturation', 'fever', 'fall'] as const
export type Scenario = typeof SCENARIOS[number]

export interface Vitals {
  /** heart rate, beats per minute */
  hr: number
  /** oxygen saturation, % */
  spo2: number
  /** body temperature, °C */
  temp: number
  /** respiratory rate, breaths per minute */
  rr: number
  sys: number
  dia: number
}

export const NORMAL: Vitals = { hr: 72, spo2: 98, temp: 36.8, rr: 14, sys: 118, dia: 76 }

/** Where each abnormal scenario ends up. */
export const ABNORMAL: Record<Exclude<Scenario, 'normal' | 'fall'>, Partial<Vitals>> = {
  tachycardia: { hr: 135 },
  desaturation: { spo2: 86, hr: 95, rr: 24 },
  fever: { temp: 39.2, hr: 100 }
}

export interface ModelOptions {
  /** seconds until the abnormal pattern starts (default 0) */
  onset?: number
  /** seconds it takes to reach the abnormal values (default 0: a step) */
  ramp?: number
}

/** PPG pulse shape: a systolic Gaussian minus its mean over a beat, so its average is 0. */
const PPG_SIGMA = 0.08
const PPG_MEAN = PPG_SIGMA * Math.sqrt(2 * Math.PI)
function ppgShape (phase: number): number {
  const x = phase - 0.3
  return Math.exp(-(x * x) / (2 * PPG_SIGMA * PPG_SIGMA)) - PPG_MEAN
}

/** ECG waves: [position in the beat, amplitude mV, width]. */
const ECG_WAVES: Array<[number, number, number]> = [
  [0.10, 0.15, 0.025], // P
  [0.21, -0.12, 0.010], // Q
  [0.24, 1.2, 0.016], // R
  [0.27, -0.25, 0.010], // S
  [0.55, 0.30, 0.045] // T
]

export class PatientModel {
  readonly scenario: Scenario
  readonly onset: number
  readonly ramp: number
  /** beat phase integration cache (t, beats so far) */
  #t = 0
  #beats = 0

  constructor (scenario: Scenario = 'normal', opts: ModelOptions = {}) {
    if (!SCENARIOS.includes(scenario)) throw new RangeError(`unknown scenario ${scenario}; one of ${SCENARIOS.join(', ')}`)
    this.scenario = scenario
    this.onset = opts.onset ?? (scenario === 'fall' ? 2 : 0)
    this.ramp = opts.ramp ?? 0
  }

  /** 0 before the onset, 1 once the pattern is fully there. */
  progress (t: number): number {
    if (t < this.onset) return 0
    if (this.ramp <= 0) return 1
    return Math.min(1, (t - this.onset) / this.ramp)
  }

  vitals (t: number): Vitals {
    const v = { ...NORMAL }
    if (this.scenario === 'normal' || this.scenario === 'fall') return v
    const p = this.progress(t)
    const target = ABNORMAL[this.scenario]
    for (const k of Object.keys(target) as Array<keyof Vitals>) v[k] = NORMAL[k] + (target[k]! - NORMAL[k]) * p
    return v
  }

  /** Beats since t = 0 (the integral of hr/60); queries in increasing t are O(step). */
  beats (t: number): number {
    if (t < this.#t) { this.#t = 0; this.#beats = 0 }
    const step = 0.005
    while (this.#t + step <= t) {
      this.#beats += this.vitals(this.#t + step / 2).hr / 60 * step
      this.#t += step
    }
    return this.#beats + this.vitals(t).hr / 60 * (t - this.#t)
  }

  /** Position in the current beat, 0..1. */
  phase (t: number): number {
    const b = this.beats(t)
    return b - Math.floor(b)
  }

  /** Normalised PPG pulse (zero mean over a beat, peak ≈ 0.8). */
  ppg (t: number): number {
    return ppgShape(this.phase(t))
  }

  /**
   * Red and IR photodiode counts of a MAX30102 (18-bit). The AC/DC ratios
   * are chosen so that R = (AC/DC)red / (AC/DC)ir gives the model's SpO2
   * through the usual calibration SpO2 = 110 − 25·R.
   */
  oximeterCounts (t: number): { red: number, ir: number } {
    const r = (110 - this.vitals(t).spo2) / 25
    const p = this.ppg(t)
    return { red: Math.round(90000 * (1 + 0.02 * r * p)), ir: Math.round(120000 * (1 + 0.02 * p)) }
  }

  /** ECG lead voltage in mV. */
  ecg (t: number): number {
    const phase = this.phase(t)
    let mv = 0
    for (const [at, amp, width] of ECG_WAVES) {
      let d = phase - at
      if (d > 0.5) d -= 1
      if (d < -0.5) d += 1
      mv += amp * Math.exp(-(d * d) / (2 * width * width))
    }
    return mv
  }

  /** Output voltage of an AD8232 module (rest 1.5 V, gain 1100 → 1.1 V per mV), clamped to 0..3.3 V. */
  ad8232Volts (t: number): number {
    return Math.max(0, Math.min(3.3, 1.5 + 1.1 * this.ecg(t)))
  }

  /** Acceleration in g at the waist (x forward, y left, z up when standing). */
  accel (t: number): [number, number, number] {
    if (this.scenario !== 'fall' || t < this.onset) return [0.02, -0.01, 1]
    const s = t - this.onset
    if (s < 0.35) return [0.05, 0.02, 0.1] // free fall
    if (s < 0.45) return [2.2, 0.6, 3.1] // impact, |a| ≈ 3.8 g
    return [1, 0.03, 0.05] // lying on the back
  }

  /** Skin temperature a thermometer reads, °C. */
  temperature (t: number): number {
    return this.vitals(t).temp
  }
}
