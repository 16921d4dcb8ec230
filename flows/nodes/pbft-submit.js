export { default } from './lib/pbft-submit.ts'
