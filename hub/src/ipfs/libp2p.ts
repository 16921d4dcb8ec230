/**
 * A minimal libp2p node for the IPFS layer (DESIGN §6: one libp2p node per
 * process, TCP + Noise + Yamux). A process that runs the network layer passes
 * its node (hub/src/net/) to IpfsNode; a storage node alone creates this
 * smaller one (no gossip).
 *
 * Nothing here reaches beyond the addresses it is given: no bootstrap list,
 * no mDNS, no DHT, no delegated routing. Peers are dialled by explicit
 * multiaddrs.
 */
import { createLibp2p, type Libp2pOptions } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { checkBytes } from '../core/index.ts'

export interface IpfsLibp2pOptions {
  /** Listen addresses; default loopback on an ephemeral port. */
  listen?: string[]
  /** The node's key; a fresh one when absent (see loadOrCreateKey). */
  privateKey?: PrivateKey
  /** Replaces Noise (tests wrap it to see what a node receives after decryption). */
  connectionEncrypters?: Libp2pOptions['connectionEncrypters']
}

export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0']

/** Creates and starts a libp2p node with TCP, Noise, Yamux and identify. */
export async function createIpfsLibp2p (opts: IpfsLibp2pOptions = {}): Promise<Libp2p> {
  return await createLibp2p({
    ...(opts.privateKey === undefined ? {} : { privateKey: opts.privateKey }),
    addresses: { listen: opts.listen ?? DEFAULT_LISTEN },
    transports: [tcp()],
    connectionEncrypters: opts.connectionEncrypters ?? [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    services: { identify: identify() }
  })
}

/** An Ed25519 libp2p key from a 32-byte seed (e.g. derived from the node's identity seed). */
export async function keyFromSeed (seed: Uint8Array): Promise<PrivateKey> {
  return await generateKeyPairFromSeed('Ed25519', checkBytes('seed', seed, 32))
}

/**
 * The node key kept in `<dir>/libp2p.seed` (32 random bytes, mode 0600), so a
 * storage node keeps its PeerId across restarts: the network layer's one
 * implementation, so a node's IPFS and its network share a peer id file.
 */
export { loadOrCreatePeerKey as loadOrCreateKey } from '../net/node.ts'
