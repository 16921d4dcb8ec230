// Device build (DESIGN §7): every sketch compiles to one ES5 file that acorn
// parses with ecmaVersion 5; syntax Espruino lacks fails with its position;
// the device line helper's CRC equals zlib's crc32 and the hub parses it.
import t from 'tap'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 as zlibCrc32 } from 'node:zlib'
import { parse } from 'acorn'
import { buildAll, buildSketch, listSketches, SRC_DIR } from '../../device/build.ts'
import { NotEs5Error, SketchCompileError, UnknownSketchError } from '../../device/errors.ts'
import { assertEs5 } from '../../device/build.ts'
import { configPrelude, flashFailure } from '../../device/flash.ts'
import { espruinoCrc32 } from '../../hardware/virtual-espruino/api.ts'
import { VirtualEspruino } from '../../hardware/virtual-espruino/board.ts'
import { parseLine } from '../../hub/src/ingest/line.ts'

// A bound, not a goal: 30–50 s when the 2-core CI machine runs the multi-process tests beside it.
t.setTimeout(300_000)

const out = mkdtempSync(join(tmpdir(), 'hc-device-build-'))
t.teardown(() => rmSync(out, { recursive: true, force: true }))

t.test('every sketch builds to one ES5 file', async t => {
  const sketches = listSketches()
  t.ok(sketches.length >= 5, `sketches: ${sketches.join(', ')}`)
  for (const s of ['oximeter', 'oximeter-wifi', 'thermometer', 'ecg', 'fall']) t.ok(sketches.includes(s), s)
  const built = buildAll(undefined, { outDir: out })
  t.equal(built.length, sketches.length)
  for (const b of built) {
    t.equal(b.outFile, join(out, `${b.sketch}.js`))
    const code = readFileSync(b.outFile, 'utf8')
    t.doesNotThrow(() => parse(code, { ecmaVersion: 5, sourceType: 'script' }), `${b.sketch}.js parses as ES5`)
    t.notMatch(code, /\b(const|let|class|=>)\b|__awaiter|__generator|__spreadArray|__read\b/, `${b.sketch}.js has no ES2015 leftovers or helpers`)
    t.notMatch(code, /^\s*(import|export)\b/m, 'no module syntax')
  }
})

function badSketch (name: string, body: string): string {
  const dir = mkdtempSync(join(out, 'src-'))
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${name}.ts`), `/// <reference path="${join(SRC_DIR, '..', 'lib', 'serial.ts')}" />\n${body}`)
  return dir
}

t.test('destructuring fails the build with a clear message', async t => {
  const srcDir = badSketch('bad-destructuring', 'var p = { a: 1, b: 2 }\nvar { a, b } = p\nUSB.println(String(a + b))\n')
  const err = t.throws(() => buildSketch('bad-destructuring', { srcDir, outDir: out })) as SketchCompileError
  t.type(err, SketchCompileError)
  t.equal(err.code, 'ERR_SKETCH_COMPILE')
  t.match(err.message, /bad-destructuring\.ts:3:5 destructuring is not supported by the Espruino interpreter/)
  t.equal(err.problems.length, 1)
})

t.test('async/await fails the build with a clear message', async t => {
  const srcDir = badSketch('bad-async', 'async function f (): Promise<number> { return 1 }\nasync function g () { var x = await f(); USB.println(String(x)) }\n')
  const err = t.throws(() => buildSketch('bad-async', { srcDir, outDir: out })) as SketchCompileError
  t.type(err, SketchCompileError)
  t.match(err.message, /bad-async\.ts:2:1 an async function is not supported/)
  t.match(err.message, /bad-async\.ts:3:31 await is not supported/)
  // lib es5: no Promise either
  t.match(err.message, /Promise/)
})

t.test('other missing features and type errors are reported too', async t => {
  const srcDir = badSketch('bad-misc', 'function f (x = 1, ...r: number[]) { return x ** 2 }\nvar m = new Map()\nvar o: any = null\nUSB.println(o?.x)\nUSB.println(42)\n')
  const err = t.throws(() => buildSketch('bad-misc', { srcDir, outDir: out })) as SketchCompileError
  for (const what of ['a default parameter value', 'a rest parameter', 'the \\*\\* operator', 'optional chaining', "Cannot find name 'Map'", 'not assignable to parameter of type \'string\'']) {
    t.match(err.message, new RegExp(what), what)
  }
})

t.test('unknown sketch', async t => {
  t.throws(() => buildSketch('nope', { outDir: out }), UnknownSketchError)
})

t.test('assertEs5 rejects ES2015 output', async t => {
  t.throws(() => assertEs5('var f = () => 1', 'x.js'), NotEs5Error)
  t.doesNotThrow(() => assertEs5('var f = function () { return 1 }', 'x.js'))
})

t.test('E.CRC32 polyfill equals zlib crc32', async t => {
  const samples = ['', 'a', '123456789', '{"d":"ox-1","b":7,"s":42,"t":"spo2","v":97,"u":"%","ts":123456}']
  for (let i = 0; i < 200; i++) {
    let s = ''
    const n = (i * 7919) % 300
    for (let k = 0; k < n; k++) s += String.fromCharCode(32 + ((i * 31 + k * 17) % 95))
    samples.push(s)
  }
  for (const s of samples) t.equal(espruinoCrc32(s), zlibCrc32(s), `crc of ${s.length} bytes`)
  t.equal(espruinoCrc32('123456789'), 0xCBF43926, 'the CRC-32 check value')
})

t.test("the sketches' line helper, run on the virtual board, makes lines the hub accepts", async t => {
  const built = buildSketch('thermometer', { outDir: out })
  // take the lib part (everything before the sketch's own main) and call it directly
  const code = readFileSync(built.outFile, 'utf8').replace(/hcMain\(\);\s*$/, '')
  let output = ''
  const board = new VirtualEspruino({ write: s => { output += s } })
  t.teardown(() => board.close())
  board.run(code)
  const lines = board.run(`var dev = hcDevice('temp-9'); var out = []; for (var i = 0; i < 50; i++) out.push(hcReading(dev, 'temp', 36 + i / 10)); out.push(hcReading(dev, 'bp', [120, 80])); out.push(hcReading(dev, 'ecg', [0.1, -0.2, 1.05])); out`) as string[]
  t.equal(output.includes('Uncaught'), false, output)
  t.equal(lines.length, 52)
  let boot = -1
  lines.forEach((line, i) => {
    const star = line.lastIndexOf('*')
    t.equal(line.slice(star + 1), zlibCrc32(line.slice(0, star)).toString(16).padStart(8, '0'))
    const r = parseLine(line + '\n')
    t.equal(r.device, 'temp-9')
    t.equal(r.seq, i)
    if (boot < 0) boot = r.boot
    t.equal(r.boot, boot)
  })
  t.same(parseLine(lines[50]!).value, [120, 80])
})

t.test('flash: settings prelude and CLI output checks', async t => {
  t.equal(configPrelude({ scl: 'D22', device: 'ox-1', mqttPort: '1883' }), 'var HC_CONFIG = {scl: D22, device: "ox-1", mqttPort: 1883};\n')
  t.throws(() => configPrelude({ 'a-b': '1' }))
  t.equal(flashFailure('Connecting\nConnected\nUpload Complete\n'), null)
  t.match(flashFailure('Connecting to x\nUnable to connect!\n'), /could not connect/)
  t.match(flashFailure('serial: Port "/dev/x" not found\n'), /no such serial port/)
  t.match(flashFailure('--] Uncaught SyntaxError: Unexpected token\nUpload Complete\n'), /rejected the code: Uncaught SyntaxError/)
  t.match(flashFailure('Error: Permission denied, cannot open /dev/ttyACM0\n'), /cannot be opened/)
  t.match(flashFailure('Connected\n'), /did not report/)
})
