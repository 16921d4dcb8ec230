export { default } from './lib/keys.ts'
