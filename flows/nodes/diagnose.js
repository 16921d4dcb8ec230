export { default } from './lib/diagnose.ts'
