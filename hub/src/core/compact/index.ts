/** Compact block relay (BIP 152 for Ublocks): short ids, cmpctblock, getblocktxn, blocktxn. */
export * from './siphash.ts'
export * from './short-id.ts'
export * from './cmpctblock.ts'
export * from './getblocktxn.ts'
export * from './blocktxn.ts'
