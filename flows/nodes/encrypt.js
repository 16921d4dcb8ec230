export { default } from './lib/encrypt.ts'
