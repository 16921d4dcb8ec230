/**
 * Replay and duplicate detection per (device, boot, seq) (DESIGN §7: the hub
 * drops and counts replayed lines). A device counts `s` up by one per
 * reading and restarts it only with a new boot id `b`, so per (device, boot)
 * the hub keeps the highest accepted seq: anything at or below it is a
 * replay (an MQTT QoS 1 redelivery, a re-sent serial line, an attacker's
 * copy). Pure state; the store persists the marks with each reading.
 */

/** Boots remembered per device; the oldest is forgotten beyond this. */
export const BOOTS_PER_DEVICE = 16

export class ReplayGuard {
  readonly #marks = new Map<string, Map<number, number>>()

  /** True when (device, boot, seq) is new, i.e. seq is above the boot's mark. */
  isFresh (device: string, boot: number, seq: number): boolean {
    const mark = this.#marks.get(device)?.get(boot)
    return mark === undefined || seq > mark
  }

  /** The boot's mark (highest accepted seq), if any. */
  mark (device: string, boot: number): number | undefined {
    return this.#marks.get(device)?.get(boot)
  }

  /** Record an accepted reading (or restore a persisted mark). */
  accept (device: string, boot: number, seq: number): void {
    let boots = this.#marks.get(device)
    if (boots === undefined) { boots = new Map(); this.#marks.set(device, boots) }
    const prev = boots.get(boot)
    if (prev !== undefined && prev >= seq) return
    boots.delete(boot) // re-insert: insertion order = recency
    boots.set(boot, seq)
    while (boots.size > BOOTS_PER_DEVICE) boots.delete(boots.keys().next().value as number)
  }

  /**
   * Undo accept() when the durable write failed, so a retransmission is
   * taken. Readings after it in the same failed commit roll back too (their
   * rejections come later, with marks above `previous`), so lower the mark
   * to `previous` whenever it covers `seq`.
   */
  rollback (device: string, boot: number, seq: number, previous: number | undefined): void {
    const boots = this.#marks.get(device)
    const mark = boots?.get(boot)
    if (boots === undefined || mark === undefined || mark < seq) return
    if (previous === undefined) boots.delete(boot)
    else boots.set(boot, previous)
  }
}
