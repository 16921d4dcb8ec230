/**
 * Docchain consensus (paper §IV-B3): the pure PBFT replica, its message kinds
 * and the doctor registry. Import from here outside core/pbft/ (core/index.ts
 * does not re-export it yet).
 */
export * from './envelope.ts'
export * from './messages.ts'
export * from './request.ts'
export * from './pre-prepare.ts'
export * from './prepare.ts'
export * from './commit.ts'
export * from './checkpoint.ts'
export * from './view-change.ts'
export * from './new-view.ts'
export * from './fetch.ts'
export * from './replica.ts'
export * from './registry.ts'
