// Builds the addon with node-gyp (npm's own, on PATH in install scripts) against
// the headers of the Node that runs the install when they are there (the
// official builds ship include/node), so no download is needed. Linux only:
// elsewhere nothing is built and the control API keeps its 0600 socket.
'use strict'
const { spawnSync } = require('node:child_process')
const { existsSync, realpathSync } = require('node:fs')
const path = require('node:path')

if (process.platform !== 'linux') {
  console.log('@healthchain/peercred: SO_PEERCRED is Linux only; not built')
  process.exit(0)
}
const prefix = path.resolve(path.dirname(realpathSync(process.execPath)), '..')
const args = ['rebuild']
if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`)
const gyp = process.env.npm_config_node_gyp
const r = gyp !== undefined && gyp !== '' && existsSync(gyp)
  ? spawnSync(process.execPath, [gyp, ...args], { stdio: 'inherit' })
  : spawnSync('node-gyp', args, { stdio: 'inherit' })
process.exit(r.status ?? 1)
