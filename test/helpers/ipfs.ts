/** Shared fixtures for the IPFS tests: temp data dirs and nodes that are always stopped. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { IpfsNode } from '../../hub/src/ipfs/index.ts'
import type { IpfsNodeOptions } from '../../hub/src/ipfs/index.ts'
import { openAdmission, StorageNode } from '../../hub/src/roles/storage/index.ts'
import type { StorageNodeOptions } from '../../hub/src/roles/storage/index.ts'

interface Teardown { teardown: (fn: () => unknown) => void }

/** A fresh temp dir, removed when the test ends (after the nodes in it stop). */
export async function tempDir (t: Teardown, label = 'ipfs'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `hc-${label}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** An IpfsNode on loopback, stopped at teardown (stop is idempotent). */
export async function ipfsNode (t: Teardown, dataDir: string, opts: Partial<IpfsNodeOptions> = {}): Promise<IpfsNode> {
  const node = await IpfsNode.create({ dataDir, ...opts })
  t.teardown(async () => { await node.stop() })
  return node
}

export async function storageNode (t: Teardown, dataDir: string, opts: Partial<StorageNodeOptions> = {}): Promise<StorageNode> {
  const node = await StorageNode.create({ dataDir, ...opts, admission: opts.admission ?? openAdmission })
  t.teardown(async () => { await node.stop() })
  return node
}

/** The first listen address of a node, as a dialable string with /p2p/. */
export function addr (node: IpfsNode | StorageNode): string {
  const ipfs = node instanceof StorageNode ? node.ipfs : node
  return ipfs.multiaddrs[0]!.toString()
}
