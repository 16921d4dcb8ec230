// peer(fd) → {uid, gid, pid} of a connected Unix socket's peer, or null where
// the addon is not built (not Linux, no compiler at install): the caller
// then keeps its socket to the owner by file mode alone.
'use strict'
let peer = null
let why = ''
try { peer = require('./build/Release/peercred.node').peer } catch (err) { why = err.message }
module.exports = { peer, why }
