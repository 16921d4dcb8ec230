/**
 * Issue #7 acceptance: the CIDs the IPFS layer produces are standard CIDv1
 * (raw codec, sha2-256) and equal an independent multiformats computation
 * over the same bytes; the core digest/string helpers agree with both.
 */
import t from 'tap'
import fc from 'fast-check'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 as mfSha256, sha512 as mfSha512 } from 'multiformats/hashes/sha2'
import { createHash } from 'node:crypto'
import { cidStringFromDigest, contentDigest, digestFromCidString, equalBytes, LimitExceededError, utf8Bytes } from '../../hub/src/core/index.ts'
import { cidFromDigest, cidOfBytes, cidString, digestOfCid, MAX_BATCH_BYTES, UnsupportedCidError } from '../../hub/src/ipfs/index.ts'
import { ipfsNode, tempDir } from '../helpers/ipfs.ts'

async function independentCid (bytes: Uint8Array): Promise<CID> {
  return CID.create(1, raw.code, await mfSha256.digest(raw.encode(bytes)))
}

t.test('put returns the CIDv1 raw sha2-256 that multiformats computes independently', async (t) => {
  const node = await ipfsNode(t, join(await tempDir(t), 'n'), { bitswap: false })
  const samples = [new Uint8Array(0), utf8Bytes('hello'), new Uint8Array(1024).fill(0xab), new Uint8Array(MAX_BATCH_BYTES).fill(1)]
  for (const bytes of samples) {
    const cid = await node.put(bytes)
    const ref = await independentCid(bytes)
    t.equal(cid.version, 1, 'CIDv1')
    t.equal(cid.code, 0x55, 'raw codec')
    t.equal(cid.multihash.code, 0x12, 'sha2-256')
    t.ok(cid.equals(ref), `same CID as multiformats for ${bytes.length} bytes`)
    t.equal(cid.toString(), ref.toString(), 'same base32 string')
    t.ok(equalBytes(cid.multihash.digest, contentDigest(bytes)), 'digest equals core contentDigest')
    t.ok(equalBytes(contentDigest(bytes), createHash('sha256').update(bytes).digest()), 'and node:crypto sha256')
    t.equal(cidStringFromDigest(contentDigest(bytes)), ref.toString(), 'core cidStringFromDigest gives the same string')
    t.ok(equalBytes(await node.get(cid), bytes), 'get returns the bytes')
  }
  const err = await node.put(new Uint8Array(MAX_BATCH_BYTES + 1)).catch((e: unknown) => e)
  t.type(err, LimitExceededError, 'a batch over 1 MiB is refused')
})

t.test('for any bytes, core, ipfs and multiformats agree', async (t) => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => {
    const ref = await independentCid(bytes)
    const ours = cidOfBytes(bytes)
    return ours.equals(ref) &&
      cidString(ours) === ref.toString() &&
      equalBytes(digestOfCid(ref.toString()), contentDigest(bytes)) &&
      equalBytes(digestFromCidString(ref.toString()), contentDigest(bytes))
  }), { numRuns: 200 })
  t.pass('200 random inputs agree')
})

t.test('only CIDv1 raw sha2-256 is accepted', async (t) => {
  const digest = contentDigest(utf8Bytes('x'))
  const v0 = CID.createV0((await mfSha256.digest(utf8Bytes('x'))) as never)
  t.throws(() => digestOfCid(v0), UnsupportedCidError, 'CIDv0 refused')
  const dagPb = CID.createV1(0x70, cidFromDigest(digest).multihash)
  t.throws(() => digestOfCid(dagPb), UnsupportedCidError, 'dag-pb refused')
  const sha512raw = CID.createV1(raw.code, await mfSha512.digest(utf8Bytes('x')))
  t.throws(() => digestOfCid(sha512raw), UnsupportedCidError, 'sha2-512 refused')
  t.throws(() => digestOfCid('not a cid'), UnsupportedCidError, 'garbage refused')
  t.equal(cidString(digest), cidStringFromDigest(digest))
})
