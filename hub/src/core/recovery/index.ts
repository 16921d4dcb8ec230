/** Guardian shares of the patient's identity seed and their resealing for a recovery (one file per message kind). */
export * from './share-set.ts'
export * from './guardian-share.ts'
export * from './recovery-share.ts'
