/**
 * Silent sensors: a paired device that sent no reading for `minutes` raises
 * one alert, and another only after it spoke again and fell silent anew.
 * The clock is passed in; `check` is called on a timer by the hub.
 */
export interface SilentOptions {
  readonly minutes: () => number
  readonly now: () => number
  readonly devices: () => readonly string[]
  readonly silent: (device: string, since: number) => void
}

export class SilentSensors {
  private readonly last = new Map<string, number>()
  private readonly reported = new Set<string>()
  private readonly o: SilentOptions
  constructor (o: SilentOptions) { this.o = o }

  /** A reading from `device` now. */
  seen (device: string): void {
    this.last.set(device, this.o.now())
    this.reported.delete(device)
  }

  /** Raises an alert for each paired device silent beyond the limit (a device never heard from counts from the hub's start, its first check). */
  check (): void {
    const minutes = this.o.minutes()
    if (minutes <= 0) return
    const now = this.o.now()
    for (const d of this.o.devices()) {
      if (!this.last.has(d)) this.last.set(d, now)
      const since = this.last.get(d)!
      if (!this.reported.has(d) && now - since >= minutes * 60_000) { this.reported.add(d); this.o.silent(d, since) }
    }
  }
}
