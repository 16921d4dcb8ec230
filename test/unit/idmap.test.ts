/** IdMap: byte-string keys compared in full, also within one 48-bit bucket. */
import t from 'tap'
import { IdMap, sha256, utf8Bytes } from '../../hub/src/core/index.ts'

t.test('get, set, has, size, values; ids sharing their first 48 bits stay apart', async (t) => {
  const m = new IdMap<number>()
  const a = sha256(utf8Bytes('a'))
  const b = new Uint8Array(a)
  b[31] = b[31]! ^ 1 // same bucket as a
  t.notOk(m.has(a))
  m.set(a, 1).set(b, 2)
  t.equal(m.get(a), 1)
  t.equal(m.get(new Uint8Array(b)), 2, 'by content, not identity')
  t.equal(m.size, 2)
  m.set(new Uint8Array(a), 3)
  t.equal(m.get(a), 3, 'set replaces')
  t.equal(m.size, 2)
  t.same([...m.values()].sort(), [2, 3])
  t.equal(m.get(sha256(utf8Bytes('c'))), undefined)
  const short = new IdMap<string>().set(Uint8Array.of(1, 2), 'x').set(Uint8Array.of(1, 3), 'y')
  t.equal(short.get(Uint8Array.of(1, 2)), 'x', 'short keys too')
  t.equal(short.get(Uint8Array.of(1, 3)), 'y')
})
