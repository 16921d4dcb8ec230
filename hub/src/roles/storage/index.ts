/** Storage-node role (paper §III-A): see storage-node.ts. */
export * from './storage-node.ts'
export * from './admission.ts'
export * from './erase-protocol.ts'
