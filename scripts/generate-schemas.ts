/**
 * `npm run schemas`: rewrites schemas/ from the zod schemas and the oclif
 * manifest (which `npm run build`, run first by the npm script, refreshes).
 * Files of commands that no longer print JSON are removed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { type Manifest, schemaFiles, schemasDir } from './schemas.js'

const manifestPath = new URL('../oclif.manifest.json', import.meta.url).pathname
if (!existsSync(manifestPath)) {
  console.error('oclif.manifest.json is missing: run `npm run build` first (`npm run schemas` does).')
  process.exit(1)
}
const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest
const files = schemaFiles(manifest)

mkdirSync(schemasDir, { recursive: true })
const changed: string[] = []
for (const [name, text] of Object.entries(files)) {
  const path = join(schemasDir, name)
  if (existsSync(path) && readFileSync(path, 'utf8') === text) continue
  writeFileSync(path, text)
  changed.push(`wrote    schemas/${name}`)
}
for (const name of readdirSync(schemasDir)) {
  if (name.endsWith('.json') && !(name in files)) {
    rmSync(join(schemasDir, name))
    changed.push(`removed  schemas/${name}`)
  }
}
console.log(changed.length === 0 ? 'schemas/ is up to date.' : changed.join('\n'))
