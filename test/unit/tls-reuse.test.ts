/**
 * The hub's TLS certificates (hub/src/store/tls.ts): made once, then read
 * back at every start while they are valid and name the hub's hosts (the
 * certificate library is not loaded then); a host the certificate does not
 * name, an address or a DNS name, gets a fresh leaf from the same CA.
 */
import t from 'tap'
import { loadOrCreateTls } from '../../hub/src/store/tls.ts'
import { tempDir } from '../helpers/userchain.ts'

t.test('certificates are reused while they fit, renewed for a new host', async (t) => {
  const dir = await tempDir(t, 'tls-reuse')
  const first = await loadOrCreateTls(dir, { hosts: ['127.0.0.1', 'localhost'] })
  t.ok(first.created, 'made on the first start')
  const again = await loadOrCreateTls(dir, { hosts: ['127.0.0.1', 'localhost'] })
  t.notOk(again.created, 'read back on the next')
  t.equal(again.fingerprint, first.fingerprint, 'the same leaf')
  const named = await loadOrCreateTls(dir, { hosts: ['127.0.0.1', 'hub.example.test'] })
  t.not(named.fingerprint, again.fingerprint, 'a DNS name the leaf lacks: a new leaf')
  const addressed = await loadOrCreateTls(dir, { hosts: ['192.0.2.7', 'hub.example.test'] })
  t.not(addressed.fingerprint, named.fingerprint, 'an address the leaf lacks: a new leaf')
  t.equal(addressed.ca, first.ca, 'from the same CA, which devices and browsers keep trusting')
})
