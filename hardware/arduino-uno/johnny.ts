/**
 * johnny-five on a Firmata board over our own serialport (DESIGN §7): the
 * hub's implementation, re-exported for the hardware-in-the-loop tools.
 */
export { connectFirmata, five, type Five, type FiveBoard, type FiveSensor, type FirmataConnection } from '../../hub/src/ingest/firmata-board.ts'
