/*
 * Preloaded into the espruino CLI by device/flash.ts (`node -r`). The CLI
 * opens only ports that serialport's list() enumerates, and on Linux that
 * list comes from udev, which knows nothing of pseudo-terminals. This adds
 * the ports named in ESPRUINO_EXTRA_PORTS (comma separated) to the list so
 * the real CLI can talk to a virtual board or a serial bridge on a pty.
 */
'use strict'
const { existsSync } = require('node:fs')
const { SerialPort } = require('serialport')
const extra = (process.env.ESPRUINO_EXTRA_PORTS || '').split(',').filter(Boolean)
const list = SerialPort.list.bind(SerialPort)
SerialPort.list = async function () {
  const ports = await list().catch(() => [])
  for (const path of extra) if (existsSync(path) && !ports.some(p => p.path === path)) ports.push({ path, manufacturer: 'pty' })
  return ports
}
