export { default } from './lib/batch.ts'
