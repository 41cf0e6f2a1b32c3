import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  describeFlagChanges,
  type FlagSnapshot,
  flagSnapshot,
  type Manifest,
  outputSchemaFiles,
  regenerate,
  schemaFiles,
  schemasDir,
} from '../../../scripts/schemas.js'
import { commandOutputs } from '../../../src/cli/output-schemas.js'

const manifestPath = new URL('../../../oclif.manifest.json', import.meta.url).pathname

function builtManifest(): Manifest {
  assert.ok(existsSync(manifestPath), 'oclif.manifest.json is missing: run `npm run build` (npm test does)')
  return JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest
}

function committed(name: string): string | undefined {
  const path = join(schemasDir, name)
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined
}

describe('the committed --json schemas and flag snapshot', () => {
  it('hold exactly what the zod schemas generate', () => {
    const expected = schemaFiles(builtManifest())
    const stale = Object.entries(expected)
      .filter(([name, text]) => name !== 'flags.json' && committed(name) !== text)
      .map(([name]) => `schemas/${name}`)
    const extra = readdirSync(schemasDir)
      .filter((name) => name.endsWith('.json') && !(name in expected))
      .map((name) => `schemas/${name}`)
    assert.deepEqual(
      [...stale, ...extra],
      [],
      `A --json shape changed: ${[...stale, ...extra].join(', ')} differ from src/core/representation.ts. ` +
        `If the change is deliberate, run \`${regenerate}\` and commit schemas/ (scripts rely on these shapes).`,
    )
  })

  it("hold every command's flags and arguments as the manifest has them", () => {
    const current = flagSnapshot(builtManifest())
    const text = committed('flags.json')
    assert.ok(text, `schemas/flags.json is missing: run \`${regenerate}\`.`)
    const changes = describeFlagChanges(JSON.parse(text) as FlagSnapshot, current)
    assert.equal(
      changes.length,
      0,
      `Command flags changed since schemas/flags.json was written:\n  ${changes.join('\n  ')}\n` +
        `Scripts rely on flags: if the change is deliberate, run \`${regenerate}\` and commit schemas/flags.json.`,
    )
  })

  it('say for every command what it prints with --json', () => {
    const missing = Object.keys(builtManifest().commands).filter((id) => !(id in commandOutputs))
    assert.deepEqual(
      missing,
      [],
      `Add these commands to commandOutputs in src/cli/output-schemas.ts (a schema, or the reason they print none), then run \`${regenerate}\`.`,
    )
  })

  it('are JSON Schema draft 2020-12 documents that name the command they describe', () => {
    for (const [name, schema] of Object.entries(outputSchemaFiles())) {
      const fields = schema as Record<string, unknown>
      assert.equal(fields.$schema, 'https://json-schema.org/draft/2020-12/schema', name)
      assert.match(String(fields.title), /^jjm /, name)
    }
  })
})

describe('describing a flag change', () => {
  const before: FlagSnapshot = {
    'tasks:list': {
      args: {},
      flags: { repo: { type: 'option', multiple: false, required: false, char: 'r' } },
    },
    'tasks:show': { args: { id: { required: true } }, flags: {} },
  }

  it('names the command, the flag and what changed, one line each', () => {
    const after: FlagSnapshot = {
      'tasks:list': {
        args: {},
        flags: {
          repo: { type: 'option', multiple: true, required: false },
          since: { type: 'option', multiple: false, required: false },
        },
      },
      'tasks:wait': { args: {}, flags: {} },
    }
    assert.deepEqual(describeFlagChanges(before, after), [
      '~ jjm tasks list --repo: char "r" → (none)',
      '~ jjm tasks list --repo: multiple false → true',
      '+ jjm tasks list --since: added {"type":"option","multiple":false,"required":false}',
      '- jjm tasks show: command removed',
      '+ jjm tasks wait: new command',
    ])
  })

  it('finds nothing when nothing changed', () => {
    assert.deepEqual(describeFlagChanges(before, structuredClone(before)), [])
  })
})
