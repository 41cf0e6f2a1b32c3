#!/usr/bin/env node
// The README's test command: every test/**/*.test.ts, sorted, through node's
// test runner with tsx. Node 20 expands no globs, and a run that finds no test
// file must fail rather than pass quietly.
import { spawn } from 'node:child_process'
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
const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...files], {
  cwd: root,
  stdio: ['inherit', 'pipe', 'inherit'],
})
let tail = ''
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString()).slice(-4000)
})
child.on('close', (code) => {
  // The runner's summary: "# tests N" (TAP) or "ℹ tests N" (spec). Files with no test in them pass silently otherwise.
  const counted = /^(?:#|ℹ) tests (\d+)$/m.exec(tail)
  if (code === 0 && (!counted || Number(counted[1]) === 0)) {
    console.error('run-tests: the test runner reported no test executed — refusing to report success.')
    process.exit(1)
  }
  process.exit(code ?? 1)
})
