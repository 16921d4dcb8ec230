export { default } from './lib/sensor-in.ts'
