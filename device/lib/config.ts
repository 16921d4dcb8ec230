/// <reference path="../types/espruino.d.ts" />
/**
 * Per-board settings. `npm run flash -- <sketch> --set key=value` prepends
 * `var HC_CONFIG = {…};` to the upload, so one build serves many boards.
 */

function hcConf (key: string, fallback: string): string {
  if (typeof HC_CONFIG !== 'undefined' && HC_CONFIG !== undefined && HC_CONFIG[key] !== undefined) return String(HC_CONFIG[key])
  return fallback
}

/** A pin from the settings (the flash tool writes pins as bare names: D22, B6 …). */
function hcConfPin (key: string, fallback: Pin): Pin {
  if (typeof HC_CONFIG !== 'undefined' && HC_CONFIG !== undefined && HC_CONFIG[key] !== undefined) return HC_CONFIG[key] as Pin
  return fallback
}

function hcConfNumber (key: string, fallback: number): number {
  var n = Number(hcConf(key, String(fallback)))
  return isNaN(n) ? fallback : n
}
