/** Whether Node `version` with `process.features.typescript` = `typescript` runs the CLI in-process (package.json `engines`). */
export function supported (version: string, typescript: unknown): boolean
