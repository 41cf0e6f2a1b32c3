#!/usr/bin/env node
// The README's test command: every test/**/*.test.ts, sorted, through node's
// test runner with tsx. Node 20 expands no globs, and a run that finds no test
// file must fail rather than pass quietly.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const only = process.argv.slice(2)

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'fixtures' ? [] : find(path)
    return entry.name.endsWith('.test.ts') ? [relative(root, path)] : []
  })
}

const files = find(join(root, 'test'))
  .filter((file) => only.length === 0 || only.some((part) => file.includes(part)))
  .sort()
if (files.length === 0) {
  console.error('run-tests: no test files found under test/ — refusing to report success.')
  process.exit(1)
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], { cwd: root, stdio: 'inherit' })
process.exit(result.status ?? 1)
