/**
 * Signal helpers for the analyzer: robust per-parameter summaries, trend
 * slope, and R-peak detection on ECG samples (a simple adaptive-threshold
 * detector with a 200 ms refractory period, after Pan–Tompkins' idea of
 * thresholding the rectified derivative).
 */

export function median (xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/**
 * Medians of every run of `w` consecutive values (all values when fewer):
 * a sustained episode shows in some window, while a lone spike never moves
 * a median of five.
 */
export function windowMedians (xs: readonly number[], w = 5): number[] {
  if (xs.length <= w) return xs.length === 0 ? [] : [median(xs)]
  const out: number[] = []
  for (let i = 0; i + w <= xs.length; i++) out.push(median(xs.slice(i, i + w)))
  return out
}

/** Least-squares slope of (t, y) in y-units per minute; 0 with fewer than 3 points or no time span. */
export function slopePerMinute (points: ReadonlyArray<{ t: number, y: number }>): number {
  if (points.length < 3) return 0
  const n = points.length
  const mt = points.reduce((a, p) => a + p.t, 0) / n
  const my = points.reduce((a, p) => a + p.y, 0) / n
  let num = 0
  let den = 0
  for (const p of points) { num += (p.t - mt) * (p.y - my); den += (p.t - mt) ** 2 }
  return den === 0 ? 0 : (num / den) * 60_000
}

/** Sample indexes of R peaks in an ECG trace sampled at `hz`. */
export function rPeaks (samples: readonly number[], hz: number): number[] {
  if (samples.length < 3 || !(hz > 0)) return []
  const d = samples.map((x, i) => i === 0 ? 0 : Math.abs(x - samples[i - 1]!))
  const sorted = [...d].sort((a, b) => a - b)
  const threshold = sorted[Math.floor(sorted.length * 0.98)]! * 0.5
  const refractory = Math.round(0.2 * hz)
  const peaks: number[] = []
  for (let i = 1; i < samples.length - 1; i++) {
    if (d[i]! < threshold || threshold === 0) continue
    // the local maximum of the signal within the next 60 ms is the R peak
    let best = i
    for (let j = i; j < Math.min(samples.length, i + Math.round(0.06 * hz)); j++) if (samples[j]! > samples[best]!) best = j
    if (peaks.length === 0 || best - peaks[peaks.length - 1]! >= refractory) peaks.push(best)
    i = best + refractory - 1
  }
  return peaks
}

/** Coefficient of variation of successive RR intervals (0 for a perfectly regular rhythm). */
export function rrIrregularity (peaks: readonly number[]): { cv: number, meanRr: number } {
  const rr = peaks.slice(1).map((p, i) => p - peaks[i]!)
  if (rr.length < 3) return { cv: 0, meanRr: 0 }
  const mean = rr.reduce((a, b) => a + b, 0) / rr.length
  const sd = Math.sqrt(rr.reduce((a, b) => a + (b - mean) ** 2, 0) / rr.length)
  return { cv: sd / mean, meanRr: mean }
}
