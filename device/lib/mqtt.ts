/// <reference path="../types/espruino.d.ts" />
/**
 * A small MQTT 3.1.1 client for Espruino Wi-Fi/ESP32 boards (OASIS MQTT
 * 3.1.1: §3.1 CONNECT, §3.2 CONNACK, §3.3 PUBLISH, §3.4 PUBACK, §3.12–3.13
 * PINGREQ/PINGRESP, §4.4 message delivery retry). Publishes at QoS 1 only:
 * every reading stays in an offline buffer until the broker's PUBACK, is
 * sent again (DUP set) after a reconnect, and reconnects back off
 * exponentially. Espruino sockets carry byte strings, so packets are built
 * as strings of char codes 0–255. Duplicates after a lost PUBACK are
 * possible by design (QoS 1); the hub drops them by (device, boot, seq).
 */

interface HcMqttOptions {
  host: string
  port: number
  clientId: string
  username: string
  password: string
  /** seconds; PINGREQ every half of it */
  keepalive: number
  /** most readings kept while offline; the oldest is dropped beyond it */
  maxBuffer: number
  backoffMinMs: number
  backoffMaxMs: number
  /** the hub's CA (PEM): connect with TLS (port 8883) and verify the broker; '' or absent: plain MQTT */
  ca?: string
}

interface HcMqttMessage { id: number, topic: string, payload: string, sent: boolean }

interface HcMqtt {
  opts: HcMqttOptions
  queue: HcMqttMessage[]
  nextId: number
  connected: boolean
  closed: boolean
  socket: NetSocket | null
  rx: string
  backoff: number
  timer: number
  lastRx: number
  dropped: number
  connects: number
}

function hcMqttString (s: string): string {
  return String.fromCharCode(s.length >> 8, s.length & 255) + s
}

function hcMqttPacket (header: number, body: string): string {
  var len = body.length
  var out = String.fromCharCode(header)
  do {
    var b = len % 128
    len = Math.floor(len / 128)
    out += String.fromCharCode(len > 0 ? b | 128 : b)
  } while (len > 0)
  return out + body
}

function hcMqttConnectPacket (o: HcMqttOptions): string {
  // protocol name, level 4, flags: username, password, clean session
  var body = hcMqttString('MQTT') + String.fromCharCode(4, 0xC2, o.keepalive >> 8, o.keepalive & 255) +
    hcMqttString(o.clientId) + hcMqttString(o.username) + hcMqttString(o.password)
  return hcMqttPacket(0x10, body)
}

function hcMqttPublishPacket (m: HcMqttMessage, dup: boolean): string {
  var body = hcMqttString(m.topic) + String.fromCharCode(m.id >> 8, m.id & 255) + m.payload
  return hcMqttPacket(dup ? 0x3A : 0x32, body)
}

function hcMqtt (opts: HcMqttOptions): HcMqtt {
  var c: HcMqtt = {
    opts: opts, queue: [], nextId: 1, connected: false, closed: false, socket: null, rx: '',
    backoff: opts.backoffMinMs, timer: 0, lastRx: 0, dropped: 0, connects: 0
  }
  hcMqttOpen(c)
  c.timer = setInterval(function () { hcMqttTick(c) }, opts.keepalive * 500)
  return c
}

/** Queue a QoS 1 message; it is sent now if connected, else after reconnect. */
function hcMqttPublish (c: HcMqtt, topic: string, payload: string): void {
  var m: HcMqttMessage = { id: c.nextId, topic: topic, payload: payload, sent: false }
  c.nextId = c.nextId >= 65535 ? 1 : c.nextId + 1
  c.queue.push(m)
  if (c.queue.length > c.opts.maxBuffer) {
    c.queue.shift()
    c.dropped++
  }
  if (c.connected && c.socket !== null) {
    m.sent = true
    c.socket.write(hcMqttPublishPacket(m, false))
  }
}

function hcMqttOpen (c: HcMqtt): void {
  if (c.closed) return
  // MQTT over TLS (mqtts) when the hub's CA is configured: the broker is verified, secret and readings are encrypted
  var ca = c.opts.ca
  var sock = ca !== undefined && ca !== '' ? require('tls').connect({ host: c.opts.host, port: c.opts.port, ca: ca }, function () {
    sock.write(hcMqttConnectPacket(c.opts))
  }) : require('net').connect({ host: c.opts.host, port: c.opts.port }, function () {
    sock.write(hcMqttConnectPacket(c.opts))
  })
  c.socket = sock
  c.rx = ''
  c.lastRx = getTime()
  sock.on('data', function (d: string) {
    if (c.socket !== sock) return
    c.rx += d
    c.lastRx = getTime()
    hcMqttParse(c)
  })
  sock.on('error', function () { hcMqttLost(c, sock) })
  sock.on('close', function () { hcMqttLost(c, sock) })
}

function hcMqttLost (c: HcMqtt, sock: NetSocket): void {
  if (c.socket !== sock) return
  c.socket = null
  c.connected = false
  if (c.closed) return
  var wait = c.backoff + Math.floor(Math.random() * c.backoff / 2)
  c.backoff = Math.min(c.backoff * 2, c.opts.backoffMaxMs)
  setTimeout(function () { hcMqttOpen(c) }, wait)
}

function hcMqttParse (c: HcMqtt): void {
  for (;;) {
    if (c.rx.length < 2) return
    var len = 0
    var mul = 1
    var i = 1
    var b = 0
    do {
      if (i >= c.rx.length) return
      b = c.rx.charCodeAt(i++)
      len += (b & 127) * mul
      mul *= 128
    } while ((b & 128) !== 0 && i < 5)
    if (c.rx.length < i + len) return
    var type = c.rx.charCodeAt(0) >> 4
    var body = c.rx.substr(i, len)
    c.rx = c.rx.substr(i + len)
    if (type === 2) hcMqttConnack(c, body.charCodeAt(1))
    else if (type === 4) hcMqttPuback(c, (body.charCodeAt(0) << 8) | body.charCodeAt(1))
  }
}

function hcMqttConnack (c: HcMqtt, rc: number): void {
  if (rc !== 0 || c.socket === null) {
    // refused (bad credentials or not authorised): retry later with backoff
    if (c.socket !== null) c.socket.end()
    return
  }
  c.connected = true
  c.connects++
  c.backoff = c.opts.backoffMinMs
  for (var i = 0; i < c.queue.length; i++) {
    var m = c.queue[i]!
    c.socket.write(hcMqttPublishPacket(m, m.sent))
    m.sent = true
  }
}

function hcMqttPuback (c: HcMqtt, id: number): void {
  for (var i = 0; i < c.queue.length; i++) {
    if (c.queue[i]!.id === id) {
      c.queue.splice(i, 1)
      return
    }
  }
}

/** Keepalive: ping when idle, drop a connection that stopped answering. */
function hcMqttTick (c: HcMqtt): void {
  if (c.socket === null) return
  if (getTime() - c.lastRx > c.opts.keepalive * 1.5) {
    var s = c.socket
    hcMqttLost(c, s)
    s.end()
    return
  }
  if (c.connected) c.socket.write(String.fromCharCode(0xC0, 0))
}

/** Stop: no more reconnects; unsent readings stay in c.queue. */
function hcMqttClose (c: HcMqtt): void {
  c.closed = true
  clearInterval(c.timer)
  if (c.socket !== null) {
    var s = c.socket
    c.socket = null
    c.connected = false
    s.write(String.fromCharCode(0xE0, 0))
    s.end()
  }
}
