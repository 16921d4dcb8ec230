export { default } from './lib/runtime.ts'
