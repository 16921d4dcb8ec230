/// <reference path="../types/espruino.d.ts" />
/**
 * Small signal helpers that run on the board: mean, standard deviation,
 * an exponential moving average, and a peak detector for pulse waveforms
 * (PPG or ECG R waves) giving beats per minute.
 */

function hcMean (xs: number[]): number {
  var s = 0
  for (var i = 0; i < xs.length; i++) s += xs[i]!
  return xs.length > 0 ? s / xs.length : 0
}

/** Root mean square of the deviation from the mean (the AC part). */
function hcAcRms (xs: number[]): number {
  var m = hcMean(xs)
  var s = 0
  for (var i = 0; i < xs.length; i++) s += (xs[i]! - m) * (xs[i]! - m)
  return xs.length > 0 ? Math.sqrt(s / xs.length) : 0
}

/** Exponential moving average: returns the smoothed value. */
interface HcEma { value: number, alpha: number, primed: boolean }
function hcEma (alpha: number): HcEma { return { value: 0, alpha: alpha, primed: false } }
function hcEmaPush (e: HcEma, x: number): number {
  e.value = e.primed ? e.value + e.alpha * (x - e.value) : x
  e.primed = true
  return e.value
}

/**
 * Beats per minute from a sampled waveform: a beat is an upward crossing
 * of mean + k·sd at least `refractory` samples after the previous one; the
 * rate comes from the median beat-to-beat interval, so one missed or extra
 * beat does not move it. Returns 0 when fewer than three beats are found.
 */
function hcBeatsPerMinute (xs: number[], sampleHz: number, k: number, refractory: number): number {
  var times: number[] = []
  for (var i = 0; i < xs.length; i++) times.push(i / sampleHz)
  return hcBeatsPerMinuteAt(xs, times, k, refractory / sampleHz)
}

/** The same with the time (s) of every sample, for timer-driven sampling that may jitter. */
function hcBeatsPerMinuteAt (xs: number[], times: number[], k: number, refractory: number): number {
  var threshold = hcMean(xs) + k * hcAcRms(xs)
  var last = -1
  var intervals: number[] = []
  for (var i = 1; i < xs.length; i++) {
    if (xs[i - 1]! < threshold && xs[i]! >= threshold && (last < 0 || times[i]! - times[last]! >= refractory)) {
      if (last >= 0) intervals.push(times[i]! - times[last]!)
      last = i
    }
  }
  if (intervals.length < 2) return 0
  intervals.sort(function (a, b) { return a - b })
  var mid = intervals.length >> 1
  var median = intervals.length % 2 === 1 ? intervals[mid]! : (intervals[mid - 1]! + intervals[mid]!) / 2
  return 60 / median
}
