/**
 * The hub's TLS material (RFC 5280 certificates, ECDSA P-256 / SHA-256):
 * a CA made at first start, and a server certificate it signs for the
 * pages, the Node-RED editor and the mqtts listener. Devices and browsers
 * trust the CA (or pin the certificate's fingerprint, printed at start).
 * Files in `<dataDir>/tls/`: ca.pem, ca.key, hub.pem, hub.key; the keys
 * 0600 like every secret at rest (a directory 0700). The server certificate
 * is renewed, by the same CA, when less than 30 days of it are left.
 * A configured certificate (`{ cert, key }` files) replaces all of this.
 */
import { createHash, randomBytes, webcrypto, X509Certificate } from 'node:crypto'
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import { isIP } from 'node:net'
import { join } from 'node:path'
import type * as X509 from '@peculiar/x509'

/**
 * @peculiar/x509, loaded the first time a certificate is made: with its
 * ASN.1 and dependency-injection stack it costs a few MB resident (README
 * "What the hub costs in memory"), and a hub whose certificates are valid
 * reads them with node:crypto alone. It resolves its algorithm providers
 * through tsyringe, which needs the Reflect metadata API loaded first.
 */
let x509Lib: Promise<typeof X509> | undefined
async function loadX509 (): Promise<typeof X509> {
  x509Lib ??= (async () => {
    await import('reflect-metadata')
    const x509 = await import('@peculiar/x509')
    x509.cryptoProvider.set(webcrypto as unknown as typeof globalThis.crypto)
    return x509
  })()
  return await x509Lib
}

/** the key types @peculiar/x509 takes (WebCrypto's, typed by the DOM library this project does not load) */
type KeyPair = Parameters<typeof X509.X509CertificateGenerator.createSelfSigned>[0]['keys']
type SigningKey = KeyPair['privateKey']

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const DAY = 86_400_000
/** what browsers accept for a server certificate (CA/Browser Forum: at most 398 days) */
const LEAF_DAYS = 397
const CA_DAYS = 3650
const RENEW_DAYS = 30

export interface TlsMaterial {
  /** PEM */
  readonly cert: string
  /** PEM (PKCS #8) */
  readonly key: string
  /** the CA that signed `cert` (PEM), for devices and clients to trust; absent for a configured certificate */
  readonly ca?: string
  /** SHA-256 of the certificate (DER), colon-separated hex as `openssl x509 -fingerprint -sha256` prints it */
  readonly fingerprint: string
  /** base64 SHA-256 of the certificate's public key (SPKI), as browsers pin it */
  readonly spki: string
  /** the files, for a broker or a device to read */
  readonly files: { readonly cert: string, readonly key: string, readonly ca?: string }
  /** true on the start that made the CA */
  readonly created: boolean
}

export const TLS_DIR = 'tls'

function pemKey (der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')
  return `-----BEGIN PRIVATE KEY-----\n${b64}-----END PRIVATE KEY-----\n`
}

async function importKey (pem: string): Promise<SigningKey> {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64')
  return await webcrypto.subtle.importKey('pkcs8', der, ALG, true, ['sign']) as unknown as SigningKey
}

async function writePrivate (path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 })
  await chmod(path, 0o600)
}

async function exists (path: string): Promise<boolean> { try { await stat(path); return true } catch { return false } }

/** Names the server certificate holds: loopback, this machine's name, and what the config listens on. */
function altNames (hosts: readonly string[]): X509.JsonGeneralName[] {
  const names = new Set(['localhost', '127.0.0.1', '::1', hostname(), ...hosts.filter((h) => h !== '0.0.0.0' && h !== '::')])
  return [...names].map((n) => ({ type: isIP(n) !== 0 ? 'ip' : 'dns', value: n }) as X509.JsonGeneralName)
}

function describe (certPem: string, keyPem: string, files: TlsMaterial['files'], ca: string | undefined, created: boolean): TlsMaterial {
  const c = new X509Certificate(certPem)
  const spki = createHash('sha256').update(c.publicKey.export({ type: 'spki', format: 'der' })).digest('base64')
  return { cert: certPem, key: keyPem, ...(ca === undefined ? {} : { ca }), fingerprint: c.fingerprint256, spki, files, created }
}

/** The certificate and key of the config (`{ cert, key }` files), or the hub's own CA and server certificate (made when absent). */
export async function loadOrCreateTls (dataDir: string, opts: { hosts?: readonly string[], configured?: { cert: string, key: string }, now?: number } = {}): Promise<TlsMaterial> {
  if (opts.configured !== undefined) {
    const [cert, key] = await Promise.all([readFile(opts.configured.cert, 'utf8'), readFile(opts.configured.key, 'utf8')])
    return describe(cert, key, { cert: opts.configured.cert, key: opts.configured.key }, undefined, false)
  }
  const dir = join(dataDir, TLS_DIR)
  await mkdir(dir, { recursive: true, mode: 0o700 })
  await chmod(dir, 0o700)
  const files = { ca: join(dir, 'ca.pem'), caKey: join(dir, 'ca.key'), cert: join(dir, 'hub.pem'), key: join(dir, 'hub.key') }
  const now = opts.now ?? Date.now()
  let created = false
  if (!await exists(files.ca) || !await exists(files.caKey)) {
    const x509 = await loadX509()
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as unknown as KeyPair
    const ca = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
      name: `CN=Healthchain hub CA ${hostname()}`,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + CA_DAYS * DAY),
      signingAlgorithm: ALG,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
      ]
    })
    await writePrivate(files.caKey, pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey)))
    await writeFile(files.ca, ca.toString('pem') + '\n')
    created = true
  }
  const caPem = await readFile(files.ca, 'utf8')
  let leafOk = !created && await exists(files.cert) && await exists(files.key)
  if (leafOk) {
    const c = new X509Certificate(await readFile(files.cert, 'utf8'))
    // checkIP throws on a name that is no address: each name is checked as what it is
    const wanted = altNames(opts.hosts ?? []).every((n) => (n.type === 'ip' ? c.checkIP(n.value) : c.checkHost(n.value)) !== undefined)
    leafOk = wanted && Date.parse(c.validTo) - now > RENEW_DAYS * DAY && c.checkIssued(new X509Certificate(caPem))
  }
  if (!leafOk) {
    const x509 = await loadX509()
    const ca = new x509.X509Certificate(caPem)
    const caKey = await importKey(await readFile(files.caKey, 'utf8'))
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as unknown as KeyPair
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
      subject: `CN=${hostname()}`,
      issuer: ca.subject,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + LEAF_DAYS * DAY),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(altNames(opts.hosts ?? [])),
        await x509.AuthorityKeyIdentifierExtension.create(ca)
      ]
    })
    await writePrivate(files.key, pemKey(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey)))
    await writeFile(files.cert, leaf.toString('pem') + '\n')
  }
  const [cert, key] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')])
  return describe(cert, key, { cert: files.cert, key: files.key, ca: files.ca }, caPem, created)
}
