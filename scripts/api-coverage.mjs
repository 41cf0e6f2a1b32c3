#!/usr/bin/env node
// CI's coverage gate for the daemon's HTTP layer: runs the API tests with
// Node's coverage and fails when the lines of src/api/ covered fall under the
// target. Node 20 has no --test-coverage-include, so the per-file table is
// read and weighted by each file's line count.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const target = Number(process.env.JJM_API_COVERAGE_TARGET ?? 80)
const root = new URL('..', import.meta.url).pathname
const tests = readdirSync(join(root, 'test/integration/api'))
  .filter((name) => name.endsWith('.test.ts'))
  .map((name) => join('test/integration/api', name))
  .sort()
if (tests.length === 0) {
  console.error('api-coverage: no API test found under test/integration/api.')
  process.exit(1)
}
const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--experimental-test-coverage', ...tests], {
  cwd: root,
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
})
if (run.status !== 0) {
  process.stdout.write(run.stdout)
  process.stderr.write(run.stderr)
  console.error('api-coverage: the API tests failed.')
  process.exit(1)
}
let covered = 0
let total = 0
const rows = []
for (const line of run.stdout.split('\n')) {
  const match = /^# (src\/api\/\S+)\s+\|\s+([\d.]+)\s+\|/.exec(line)
  if (!match) continue
  const file = match[1]
  const lines = readFileSync(join(root, file), 'utf8').split('\n').length
  covered += (Number(match[2]) / 100) * lines
  total += lines
  rows.push(`${relative('src/api', file).padEnd(28)} ${match[2].padStart(6)} %`)
}
if (total === 0) {
  console.error('api-coverage: the coverage report named no file of src/api/.')
  process.exit(1)
}
const percent = (covered / total) * 100
console.log(rows.join('\n'))
console.log(`src/api line coverage: ${percent.toFixed(1)} % (target ${target} %)`)
if (percent < target) {
  console.error(`api-coverage: src/api is covered ${percent.toFixed(1)} %, under the ${target} % target.`)
  process.exit(1)
}
