export { default } from './lib/tx-iot.ts'
