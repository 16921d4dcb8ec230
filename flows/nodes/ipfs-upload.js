export { default } from './lib/ipfs-upload.ts'
