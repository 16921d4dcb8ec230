/**
 * The connection gater and the peer book's memory (net/peers.ts; DESIGN §6:
 * bans by IP address as well as peer ID, loopback exempt by configuration).
 * Addresses other than loopback cannot be dialled here, so the gater is
 * exercised as libp2p calls it, with multiaddrs of other hosts.
 */
import t from 'tap'
import { multiaddr } from '@multiformats/multiaddr'
import { ipOf, isLoopback, PeerBook, peerGater } from '../../hub/src/net/peers.ts'

const conn = (a: string): { remoteAddr: ReturnType<typeof multiaddr> } => ({ remoteAddr: multiaddr(a) })
const id = (s: string): { toString: () => string } => ({ toString: () => s })

t.test('a banned peer\'s IP address is refused, for any peer ID, inbound and dialled; other addresses are not', async (t) => {
  let now = 1_000_000
  const book = new PeerBook({ banScore: -100, banMs: 10_000, now: () => now })
  const gater = peerGater(book)
  book.noteAddress('sybil-1', '203.0.113.7')
  book.noteAddress('honest', '198.51.100.2')
  book.noteAddress('v6', '2001:db8::5')
  t.notOk(gater.denyInboundConnection(conn('/ip4/203.0.113.7/tcp/4001')), 'not banned yet')
  t.ok(book.penalise('sybil-1', 100, 'block without proof of work'), 'banned')
  t.ok(gater.denyInboundConnection(conn('/ip4/203.0.113.7/tcp/5555')), 'its address is refused, whatever the port')
  t.ok(gater.denyDialMultiaddr(multiaddr('/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN')), 'and not dialled')
  t.ok(gater.denyDialPeer(id('sybil-1')) && gater.denyInboundEncryptedConnection(id('sybil-1')) && gater.denyOutboundEncryptedConnection(id('sybil-1')), 'its peer ID too')
  t.notOk(gater.denyInboundEncryptedConnection(id('sybil-2')), 'a fresh peer ID is no ban by itself…')
  t.ok(gater.denyInboundConnection(conn('/ip4/203.0.113.7/tcp/4002')), '…but from that address it never gets past the gater')
  t.notOk(gater.denyInboundConnection(conn('/ip4/198.51.100.2/tcp/4001')), 'another address is served')
  t.notOk(gater.denyInboundConnection(conn('/ip4/203.0.113.8/tcp/4001')), 'even its neighbour')
  t.ok(book.penalise('v6', 150, 'bad PoW'))
  t.ok(gater.denyInboundConnection(conn('/ip6/2001:db8::5/tcp/4001')), 'IPv6 too')
  t.same(book.bans(), { peers: 2, addresses: 2 }, 'the bans in force, as the node\'s status shows them')
  now += 10_001
  t.notOk(gater.denyInboundConnection(conn('/ip4/203.0.113.7/tcp/4001')), 'the address ban expires with the peer\'s')
  t.notOk(gater.denyDialPeer(id('sybil-1')))
  t.same(book.bans(), { peers: 0, addresses: 0 }, 'none once they expired')
})

t.test('loopback is exempt from address bans by configuration (peer-ID bans still apply)', async (t) => {
  for (const exemptLoopback of [true, false]) {
    const book = new PeerBook({ banScore: -10, exemptLoopback })
    const gater = peerGater(book)
    book.noteAddress('local', '127.0.0.1')
    book.noteAddress('local6', '::1')
    book.penalise('local', 10, 'bad PoW')
    book.penalise('local6', 10, 'bad PoW')
    t.ok(gater.denyDialPeer(id('local')), `exemptLoopback ${exemptLoopback}: the peer ID is banned`)
    t.equal(gater.denyInboundConnection(conn('/ip4/127.0.0.1/tcp/4001')), !exemptLoopback, `exemptLoopback ${exemptLoopback}: 127.0.0.1 ${exemptLoopback ? 'still' : 'no longer'} connects`)
    t.equal(gater.denyInboundConnection(conn('/ip6/::1/tcp/4001')), !exemptLoopback, `exemptLoopback ${exemptLoopback}: ::1 likewise`)
  }
  t.ok(isLoopback('127.1.2.3') && isLoopback('::1') && isLoopback('::ffff:127.0.0.1'))
  t.notOk(isLoopback('10.0.0.1') || isLoopback('::2') || isLoopback('128.0.0.1'))
  t.equal(ipOf(multiaddr('/dns4/example.org/tcp/1')), undefined, 'a DNS address has no IP to ban')
  t.ok(peerGater(new PeerBook(), (ma) => ipOf(ma) === '192.0.2.1').denyDialMultiaddr(multiaddr('/ip4/192.0.2.1/tcp/1')), 'the node\'s own dial filter still applies')
})

t.test('the peer book forgets good peers, expired bans and the least active beyond its bound', async (t) => {
  let now = 0
  const book = new PeerBook({ banScore: -100, banMs: 60_000, forgetMs: 3_600_000, maxPeers: 100, now: () => now })
  for (let i = 0; i < 50; i++) { book.noteAddress(`good-${i}`, `192.0.2.${i}`); book.penalise(`good-${i}`, 1, 'late answer') }
  book.noteAddress('bad', '198.51.100.9')
  book.penalise('bad', 100, 'bad PoW')
  t.equal(book.size, 51)
  now += 3_600_001
  book.noteAddress('fresh', '192.0.2.200') // any activity sweeps what is stale
  t.equal(book.size, 1, 'an hour later only the fresh peer is remembered (good peers and the expired ban forgotten)')
  t.equal(book.score('good-1'), 0, 'a forgotten peer starts clean')
  t.notOk(book.refuses('bad'), 'the expired ban is gone')
  for (let i = 0; i < 500; i++) book.noteAddress(`many-${i}`, `203.0.113.${i % 250}`)
  t.ok(book.size <= 101, `at most maxPeers (+1 being added) are remembered after 500 (${book.size})`)
  book.noteAddress('sybil', '198.51.100.10')
  book.penalise('sybil', 100, 'bad PoW')
  for (let i = 0; i < 500; i++) book.noteAddress(`more-${i}`, `203.0.113.${i % 250}`)
  t.ok(book.refuses('sybil') && book.isBannedAddress('198.51.100.10'), 'a ban outlives the churn of others')
})
