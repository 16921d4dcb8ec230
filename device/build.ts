/**
 * Build Espruino sketches (DESIGN §7): each device/src/<sketch>.ts plus the
 * device/lib files it references becomes one ES5 file device/dist/<sketch>.js,
 * compiled by TypeScript 5.9 (the `typescript59` alias: the last compiler
 * that emits ES5) with lib es5 and the typings in device/types, so Map, Set,
 * Promise and friends are type errors. Syntax the Espruino interpreter lacks
 * (destructuring, spread/rest, default parameters, async/await, generators,
 * `?.`, `??`, `**`, for…of) is refused in the source with its position,
 * rather than silently down-levelled into helper code. The output is then
 * parsed by acorn with ecmaVersion 5.
 *
 *   node device/build.ts [sketch …]       (npm run build:device)
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript59'
import { parse } from 'acorn'
import { NotEs5Error, SketchCompileError, UnknownSketchError } from './errors.ts'
import type { SketchProblem } from './errors.ts'

export const DEVICE_DIR = dirname(fileURLToPath(import.meta.url))
export const SRC_DIR = join(DEVICE_DIR, 'src')
export const DIST_DIR = join(DEVICE_DIR, 'dist')

export interface BuildOptions {
  srcDir?: string
  outDir?: string
}

export interface BuiltSketch {
  sketch: string
  outFile: string
  bytes: number
}

/** The sketch names in a source folder. */
export function listSketches (srcDir = SRC_DIR): string[] {
  return readdirSync(srcDir).filter(f => f.endsWith('.ts') && !f.endsWith('.d.ts')).map(f => f.slice(0, -3)).sort()
}

function compilerOptions (outFile: string): ts.CompilerOptions {
  const raw = JSON.parse(readFileSync(join(DEVICE_DIR, 'tsconfig.json'), 'utf8')) as { compilerOptions: unknown }
  const parsed = ts.convertCompilerOptionsFromJson(raw.compilerOptions, DEVICE_DIR)
  if (parsed.errors.length > 0) throw new Error(ts.flattenDiagnosticMessageText(parsed.errors[0]!.messageText, '\n'))
  return { ...parsed.options, outFile, noEmit: false }
}

/** What the Espruino interpreter lacks, found in a TypeScript source file. */
export function unsupportedSyntax (sf: ts.SourceFile): SketchProblem[] {
  const out: SketchProblem[] = []
  const report = (node: ts.Node, what: string): void => {
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf))
    out.push({ file: sf.fileName, line: line + 1, column: character + 1, message: `${what} is not supported by the Espruino interpreter (DESIGN §7)` })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isObjectBindingPattern(node) || ts.isArrayBindingPattern(node)) report(node, 'destructuring')
    else if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      (ts.isObjectLiteralExpression(node.left) || ts.isArrayLiteralExpression(node.left))) report(node, 'destructuring assignment')
    else if (ts.isSpreadElement(node) || ts.isSpreadAssignment(node)) report(node, 'spread (...)')
    else if (ts.isParameter(node) && node.dotDotDotToken !== undefined) report(node, 'a rest parameter (...)')
    else if (ts.isParameter(node) && node.initializer !== undefined) report(node, 'a default parameter value')
    else if (ts.isAwaitExpression(node)) report(node, 'await')
    else if ((ts.isFunctionLike(node)) && ts.getCombinedModifierFlags(node as ts.Declaration) & ts.ModifierFlags.Async) report(node, 'an async function')
    else if ((ts.isFunctionDeclaration(node) || ts.isFunctionExpression(node) || ts.isMethodDeclaration(node)) && node.asteriskToken !== undefined) report(node, 'a generator function')
    else if (ts.isForOfStatement(node)) report(node, 'for…of')
    else if ((ts.isPropertyAccessExpression(node) || ts.isElementAccessExpression(node) || ts.isCallExpression(node)) && node.questionDotToken !== undefined) report(node, 'optional chaining (?.)')
    else if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.QuestionQuestionToken) report(node, 'nullish coalescing (??)')
    else if (ts.isBinaryExpression(node) && (node.operatorToken.kind === ts.SyntaxKind.AsteriskAsteriskToken || node.operatorToken.kind === ts.SyntaxKind.AsteriskAsteriskEqualsToken)) report(node, 'the ** operator (use Math.pow)')
    else if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node) || ts.isExportAssignment(node)) report(node, 'import/export (reference device/lib files with /// <reference path>)')
    ts.forEachChild(node, visit)
  }
  visit(sf)
  return out
}

function diagnosticProblem (d: ts.Diagnostic): SketchProblem {
  const message = ts.flattenDiagnosticMessageText(d.messageText, ' ')
  if (d.file === undefined || d.start === undefined) return { file: '(config)', line: 0, column: 0, message }
  const { line, character } = d.file.getLineAndCharacterOfPosition(d.start)
  return { file: d.file.fileName, line: line + 1, column: character + 1, message: `TS${d.code}: ${message}` }
}

/** Parse as ES5 or throw NotEs5Error. */
export function assertEs5 (code: string, file: string): void {
  try {
    parse(code, { ecmaVersion: 5, sourceType: 'script' })
  } catch (err) {
    const e = err as SyntaxError & { loc?: { line: number, column: number } }
    throw new NotEs5Error(file, e.loc?.line ?? 0, (e.loc?.column ?? 0) + 1, e.message)
  }
}

/** Compile one sketch to <outDir>/<sketch>.js; throws SketchCompileError or NotEs5Error. */
export function buildSketch (sketch: string, opts: BuildOptions = {}): BuiltSketch {
  const srcDir = opts.srcDir ?? SRC_DIR
  const outDir = opts.outDir ?? DIST_DIR
  const known = listSketches(srcDir)
  if (!known.includes(sketch)) throw new UnknownSketchError(sketch, known)
  const rootFile = join(srcDir, `${sketch}.ts`)
  const outFile = join(outDir, `${sketch}.js`)
  const options = compilerOptions(outFile)
  const program = ts.createProgram({ rootNames: [join(DEVICE_DIR, 'types', 'espruino.d.ts'), rootFile], options })
  const rel = (f: string): string => relative(process.cwd(), f) || f
  const problems: SketchProblem[] = []
  for (const sf of program.getSourceFiles()) {
    if (sf.isDeclarationFile) continue
    for (const p of unsupportedSyntax(sf)) problems.push({ ...p, file: rel(p.file) })
  }
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const p = diagnosticProblem(d)
    problems.push({ ...p, file: rel(p.file) })
  }
  if (problems.length > 0) throw new SketchCompileError(sketch, problems)
  let code = ''
  const emit = program.emit(undefined, (_name, text) => { code = text })
  if (emit.emitSkipped || code === '') throw new SketchCompileError(sketch, emit.diagnostics.map(diagnosticProblem))
  const header = `// ${sketch}: built from device/src/${sketch}.ts by device/build.ts (TypeScript ${ts.version}, ES5)\n`
  code = header + code
  assertEs5(code, rel(outFile))
  mkdirSync(outDir, { recursive: true })
  // write then rename: a concurrent build or flash never reads half a file
  const tmp = `${outFile}.${process.pid}.tmp`
  writeFileSync(tmp, code)
  renameSync(tmp, outFile)
  return { sketch, outFile, bytes: Buffer.byteLength(code) }
}

/** Build several sketches (all by default); every failure is reported, then the first is thrown. */
export function buildAll (sketches?: string[], opts: BuildOptions = {}): BuiltSketch[] {
  const names = sketches !== undefined && sketches.length > 0 ? sketches : listSketches(opts.srcDir)
  return names.map(s => buildSketch(s, opts))
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2)
  let failed = 0
  for (const s of names.length > 0 ? names : listSketches()) {
    try {
      const b = buildSketch(s)
      console.log(`built ${basename(b.outFile)} (${b.bytes} bytes, ES5)`)
    } catch (err) {
      failed++
      console.error(`error: ${(err as Error).message}`)
    }
  }
  process.exitCode = failed > 0 ? 1 : 0
}
