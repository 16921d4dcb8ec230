import t from 'tap'
import { leafHash, merkleProof, merkleProofs, merkleRoot, nodeHash, sha256, toHex, utf8Bytes, verifyMerkleProof, InvalidFieldError } from '../../hub/src/core/index.ts'

const leaves = (n: number): Uint8Array[] => Array.from({ length: n }, (_, i) => sha256(utf8Bytes(`tx${i}`)))

t.test('RFC 6962 shape: leaf/node prefixes and split', async (t) => {
  const [a, b, c] = leaves(3)
  t.equal(toHex(merkleRoot([])), toHex(sha256(new Uint8Array(0))), 'empty tree')
  t.equal(toHex(merkleRoot([a!])), toHex(leafHash(a!)), 'one leaf')
  t.equal(toHex(merkleRoot([a!, b!, c!])), toHex(nodeHash(nodeHash(leafHash(a!), leafHash(b!)), leafHash(c!))), 'three leaves split 2+1')
  t.not(toHex(leafHash(a!)), toHex(sha256(a!)), 'leaf hash is domain separated')
})

t.test('proofs verify for every leaf of trees of size 1..257', async (t) => {
  let checked = 0
  for (let n = 1; n <= 257; n++) {
    const ls = leaves(n)
    const root = merkleRoot(ls)
    const proofs = merkleProofs(ls)
    if (n === 1 || n === 100 || n === 257) t.same(proofs[n - 1], merkleProof(ls, n - 1), `single proof equals batch proof, n=${n}`)
    for (let i = 0; i < n; i++) {
      const p = proofs[i]!
      if (!verifyMerkleProof(ls[i]!, i, n, p, root)) t.fail(`n=${n} i=${i}`)
      checked++
    }
    // wrong index / size / leaf fail
    if (n > 1) {
      const p = proofs[0]!
      if (verifyMerkleProof(ls[0]!, 1, n, p, root)) t.fail(`wrong index n=${n}`)
      if (verifyMerkleProof(ls[1]!, 0, n, p, root)) t.fail(`wrong leaf n=${n}`)
    }
  }
  t.equal(checked, 257 * 258 / 2, 'all leaves checked')
  t.throws(() => merkleProof(leaves(3), 3), InvalidFieldError)
  t.notOk(verifyMerkleProof(leaves(1)[0]!, 0, 0, [], merkleRoot(leaves(1))), 'size 0')
})

t.test('CVE-2012-2459: duplicating the last leaf changes the root; its proof does not verify', async (t) => {
  const ls = leaves(3)
  const dup = [...ls, ls[2]!]
  const root3 = merkleRoot(ls)
  t.not(toHex(merkleRoot(dup)), toHex(root3), 'no Bitcoin-style duplicate-last-leaf collision')
  const p = merkleProof(dup, 3)
  t.notOk(verifyMerkleProof(dup[3]!, 3, 4, p, root3), 'proof for the duplicated leaf does not verify against the real root')
  t.notOk(verifyMerkleProof(dup[3]!, 3, 3, p, root3), 'nor with the real size')
  const bad = merkleProof(ls, 1).map((x) => x.slice()); bad[0]![0]! ^= 1
  t.notOk(verifyMerkleProof(ls[1]!, 1, 3, bad, root3), 'tampered path')
  t.notOk(verifyMerkleProof(ls[1]!, 1, 3, [...merkleProof(ls, 1), ls[0]!], root3), 'extra path element')
})
