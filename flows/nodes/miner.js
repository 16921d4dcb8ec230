export { default } from './lib/miner.ts'
