export { default } from './lib/diagnosis-in.ts'
