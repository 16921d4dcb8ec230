/**
 * Every input of the capacity model (bench/capacity.ts, bench/_capacity-model.ts),
 * each with where it comes from. Three kinds of source:
 *  - `paper`: the Healthchain paper;
 *  - `published`: a figure from a published measurement, cited (only figures
 *    known to be in the cited work; no web access was used to check them);
 *  - `estimated`: a modelling choice or an order-of-magnitude estimate, said so.
 * Per-hop costs measured by this repository's benches (`bench`) are read from
 * the newest archived run in bench/runs/<bench>/ when the capacity bench runs;
 * the fallback here is used only when that run or metric is absent, and the
 * capacity run records which of the two it used.
 * bench/_report.ts renders this object in bench/REPORT.md (its numbers count
 * as cited constants there, like the paper's figures).
 */

export interface Input {
  value: number
  unit: string
  kind: 'paper' | 'published' | 'estimated' | 'protocol'
  source: string
}

/** A per-hop cost measured by a bench of this repository, with the constant used when no run has it. */
export interface BenchInput {
  bench: string
  metric: string
  fallback: number
  unit: string
  meaning: string
}

export const CAPACITY_INPUTS = {
  /** The swept parameters. */
  sweep: {
    blockMiB: [0.5, 1, 2, 4, 8, 16],
    intervalS: [15, 30, 60, 120, 600],
    nodes: [1000, 10000]
  },
  goal: {
    patients: { value: 1_000_000, unit: 'patients', kind: 'estimated', source: 'the goal of this capacity plan: one Userchain for a million patients' },
    maxOrphanRate: { value: 0.02, unit: 'fraction of blocks', kind: 'estimated', source: 'acceptable stale-block rate chosen for this plan; Decker and Wattenhofer (IEEE P2P 2013) observed a Bitcoin fork rate of 1.69 %' }
  },
  /** The paper's rates (§VI-C) and chain parameters (§IV-B1). */
  rates: {
    txIotPeriodS: { value: 600, unit: 's per tx_IoT per patient', kind: 'paper', source: '§VI-C: "the user generates a tx_IoT every 10 minutes"' },
    txKeyPeriodS: { value: 43200 * 60, unit: 's per tx_key per patient', kind: 'paper', source: '§VI-C: a tx_key every 43200 minutes (five doctors, as in the core bench)' },
    paperIntervalS: { value: 60, unit: 's', kind: 'paper', source: '§IV-B1: "the generation period of the block" is 1 minute (MAINNET.blockSeconds in hub/src/core/params.ts)' }
  },
  /** Sizes from the core bench and the codec. */
  sizes: {
    capacityTxIotPerMiB: { bench: 'core', metric: 'capacity_tx_iot_per_mib', fallback: 7598, unit: 'tx_IoT per 1 MiB block', meaning: 'tx_IoT in a 1 MiB Ublock, counted by filling a real block' },
    txKey5Bytes: { bench: 'core', metric: 'tx_key5_bytes', fallback: 810, unit: 'bytes', meaning: 'a tx_key to five doctors, encoded' },
    txIotBytes: { bench: 'core', metric: 'tx_iot_bytes', fallback: 136, unit: 'bytes', meaning: 'a tx_IoT, encoded' },
    headerBytes: { value: 89, unit: 'bytes', kind: 'protocol', source: 'UBLOCK_HEADER_BYTES (hub/src/core/ublock.ts)' }
  },
  /** Per-hop CPU costs from the userchain bench (one 1 MiB block of tx_IoT). */
  costs: {
    validateMsPerMiB: { bench: 'userchain', metric: 'block_validate_ms', fallback: 252, unit: 'ms per 1 MiB block', meaning: 'validate a full 1 MiB block of fresh txs (every signature checked): full relay' } as BenchInput,
    acceptPremempoolMsPerMiB: { bench: 'userchain', metric: 'block_accept_ms_premempool', fallback: 120, unit: 'ms per 1 MiB block', meaning: 'accept a 1 MiB block whose txs are in the mempool: compact relay' } as BenchInput,
    mempoolAdmitTxPerS: { bench: 'userchain', metric: 'mempool_admit_tx_per_s', fallback: 10600, unit: 'tx/s', meaning: 'admit txs to the mempool (signature checked, persisted)' } as BenchInput,
    verifyCapacityPerS: { bench: 'userchain', metric: 'verify_capacity_per_s', fallback: 37000, unit: 'verifications/s, all cores', meaning: 'Ed25519 verify capacity of the bench machine' } as BenchInput,
    benchCores: { bench: 'userchain', metric: 'cores', fallback: 2, unit: 'cores', meaning: 'cores of the machine the costs were measured on' } as BenchInput
  },
  /** The peer graph and the links. */
  network: {
    outboundPeers: { value: 8, unit: 'peers', kind: 'published', source: 'Bitcoin Core: 8 outbound full-relay connections per node (MAX_OUTBOUND_FULL_RELAY_CONNECTIONS)' },
    miners: { value: 100, unit: 'nodes with equal hash power', kind: 'estimated', source: 'mining core nodes drawn at random from the graph; the rest relay only' },
    latencyMedianMs: { value: 40, unit: 'ms one way, per link, lognormal median', kind: 'estimated', source: 'an Internet path across a continent (round trip about 80 ms); order of magnitude, not a cited figure' },
    latencySigma: { value: 0.6, unit: 'lognormal sigma', kind: 'estimated', source: 'spread from short national to intercontinental paths (about 15 ms to 130 ms one way for the 5th–95th percentile)' },
    uploadMedianMbit: { value: 20, unit: 'Mbit/s per node, lognormal median', kind: 'estimated', source: 'home and small-office upload rates; order of magnitude of fixed-broadband upload medians in the Ookla Speedtest Global Index, not checked against a dated edition' },
    uploadSigma: { value: 0.8, unit: 'lognormal sigma', kind: 'estimated', source: 'from a few Mbit/s (ADSL) to a few hundred (fibre, data centre)' },
    downloadMedianMbit: { value: 80, unit: 'Mbit/s per node, lognormal median', kind: 'estimated', source: 'order of magnitude of fixed-broadband download medians in the Ookla Speedtest Global Index, not checked against a dated edition' },
    downloadSigma: { value: 0.8, unit: 'lognormal sigma', kind: 'estimated', source: 'as for upload' }
  },
  /** How a block crosses one hop. */
  relay: {
    fullLatencies: { value: 3, unit: 'one-way latencies per hop', kind: 'protocol', source: 'full relay: inv, getdata, block (Bitcoin\'s relay; the Userchain announces and serves the body the same way)' },
    compactHighBandwidthPeers: { value: 3, unit: 'peers', kind: 'published', source: 'BIP 152: a node asks at most 3 peers to send compact blocks unsolicited (high-bandwidth mode); the others announce and are asked (3 one-way latencies)' },
    shortIdBytes: { value: 6, unit: 'bytes per tx', kind: 'published', source: 'BIP 152: 6-byte short transaction ids (SipHash-2-4)' },
    compactMissingFraction: { value: 0.001, unit: 'fraction of txs not in the receiver\'s mempool', kind: 'estimated', source: 'a few txs of each block arrive at a peer with the block; each miss costs one more round trip (getblocktxn) and their bytes' },
    relayBeforeValidation: { value: 1, unit: '1 = compact blocks relayed after the header check', kind: 'published', source: 'BIP 152: in high-bandwidth mode a node may relay a compact block before validating it fully (header and proof of work checked); it mines on it only once accepted' }
  },
  /** Published figures the model is read against (not inputs of the model). */
  references: {
    dwMedianS: { value: 6.5, unit: 's', kind: 'published', source: 'Decker and Wattenhofer, "Information propagation in the Bitcoin network", IEEE P2P 2013: median time until a node receives a block' },
    dwMeanS: { value: 12.6, unit: 's', kind: 'published', source: 'Decker and Wattenhofer 2013: mean time until a node receives a block' },
    dwMsPerKb: { value: 80, unit: 'ms per kB', kind: 'published', source: 'Decker and Wattenhofer 2013: beyond 20 kB, each kB of block size delays the block by about 80 ms (validation before relay, hop by hop)' },
    dwForkRate: { value: 0.0169, unit: 'fraction of blocks', kind: 'published', source: 'Decker and Wattenhofer 2013: observed Bitcoin fork rate' },
    cromanMaxBlockMB: { value: 4, unit: 'MB at a 10-minute interval', kind: 'published', source: 'Croman et al., "On Scaling Decentralized Blockchains", FC 2016 workshops: for 90 % of nodes to keep their effective throughput, blocks should not exceed 4 MB at 10 minutes' },
    cromanMinIntervalS: { value: 12, unit: 's', kind: 'published', source: 'Croman et al. 2016: by the same 90 % criterion the block interval should be no shorter than 12 s' }
  },
  /** What-ifs at the plan's row: not the measured state, each says what it assumes. */
  whatIf: {
    acceptMsPerMiB: { value: 30, unit: 'ms per 1 MiB block', kind: 'estimated', source: 'the target for accepting a 1 MiB block whose txs are in the mempool (block_accept_ms_premempool ≤ 30), once compact relay skips the signature checks already done at mempool admission' },
    bandwidthScale: { value: 10, unit: '× every node\'s bandwidth', kind: 'estimated', source: 'core nodes in data centres (upload median 200 Mbit/s) instead of homes' }
  },
  /** The hub a light node runs on, for the light-node argument. */
  hub: {
    piStorageGB: { value: 64, unit: 'GB', kind: 'estimated', source: 'a Raspberry Pi hub with a 64 GB microSD card (a common size, not a measured figure)' },
    piUploadMbit: { value: 20, unit: 'Mbit/s', kind: 'estimated', source: 'a home connection, as the node upload median above' },
    txInvBytes: { value: 36, unit: 'bytes per tx per peer', kind: 'estimated', source: 'a tx announcement (32-byte id and framing) sent to or received from each peer' }
  }
} as const
