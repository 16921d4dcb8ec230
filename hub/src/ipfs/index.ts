/** The IPFS layer (paper §IV-B2, DESIGN §6): Helia node, store protocol, upload with replication. */
export * from './errors.ts'
export * from './cid.ts'
export * from './libp2p.ts'
export * from './protocol.ts'
export * from './node.ts'
export * from './upload.ts'
export * from './pinning.ts'
export * from './pinning-client.ts'
