/** The machine's load average as the benches print it (1, 5 and 15 minutes): other work on the shared cores shows in every timing. */
import { loadavg } from 'node:os'

export function loadAverage (): string { return loadavg().map((x) => x.toFixed(2)).join(' ') }
