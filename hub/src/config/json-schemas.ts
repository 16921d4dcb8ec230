/**
 * The JSON Schemas of every daemon's config file, generated from the zod
 * schemas that validate them, and shipped in hub/schemas/ so an editor
 * completes and checks a config (`"$schema": "…/hub.schema.json"`).
 * `npm run schemas` rewrites them; a unit test fails when a committed schema
 * differs from what this generates.
 */
import { writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { HubConfigFile } from '../hub-config.ts'
import { AccountingConfigFile } from '../roles/accounting/config.ts'
import { StorageConfigFile } from './storage.ts'
import { DoctorConfigFile } from './doctor.ts'
import { jsonSchemaOf, type z } from './schema.ts'

/** Each role's config schema, by the file name of its JSON Schema. */
export const CONFIG_SCHEMAS: Record<string, { schema: z.ZodType, title: string }> = {
  'hub.schema.json': { schema: HubConfigFile, title: 'healthchain hub --config' },
  'accounting.schema.json': { schema: AccountingConfigFile, title: 'healthchain accounting --config' },
  'storage.schema.json': { schema: StorageConfigFile, title: 'healthchain storage --config' },
  'doctor.schema.json': { schema: DoctorConfigFile, title: 'healthchain doctor --config' }
}

export const SCHEMA_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url))

/** The text of each JSON Schema file, by name. */
export function generateSchemas (): Record<string, string> {
  return Object.fromEntries(Object.entries(CONFIG_SCHEMAS).map(([file, { schema, title }]) =>
    [file, JSON.stringify(jsonSchemaOf(schema, `https://healthchain.invalid/schemas/${file}`, title), null, 2) + '\n']))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [file, text] of Object.entries(generateSchemas())) {
    await writeFile(SCHEMA_DIR + file, text)
    console.log(`wrote hub/schemas/${file}`)
  }
}
