import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { ExitCode } from '../../../src/core/errors.js'

const unitDir = new URL('../../../deploy/systemd/', import.meta.url)
const units = ['jjm-monitor.service', 'jjm-monitor.timer'].map((name) => new URL(name, unitDir).pathname)

describe('the systemd units in deploy/systemd', () => {
  it('pass systemd-analyze verify', async (t) => {
    if (!existsSync('/usr/bin/systemd-analyze') && !existsSync('/bin/systemd-analyze')) {
      const reason = 'systemd-analyze is not installed here (apt-get install systemd); the units were not verified'
      // CI installs it (.ci/run): there a missing tool is a failure, never a skip.
      if (process.env.CI === 'true' || process.env.CI === '1') assert.fail(`CI needs ${reason}`)
      t.skip(reason)
      return
    }
    const output = await new Promise<{ code: number; text: string }>((resolve) => {
      execFile('systemd-analyze', ['verify', ...units], (error, stdout, stderr) => {
        resolve({ code: error ? Number(error.code ?? 1) : 0, text: `${stdout}${stderr}` })
      })
    })
    assert.equal(output.code, 0, output.text)
    // Warnings about the unit files themselves (not about this machine) fail the check too.
    assert.doesNotMatch(output.text, /jjm-monitor\.(service|timer):\d+:/, output.text)
  })

  it('treat the ordinary monitor outcomes as success and the sync errors as failure', async () => {
    const service = await readFile(units[0] ?? '', 'utf8')
    const success = /^SuccessExitStatus=(.*)$/m.exec(service)?.[1]?.split(/\s+/).map(Number) ?? []
    assert.deepEqual(
      success.sort(),
      [ExitCode.monitorChanges, ExitCode.monitorNeedsPerson, ExitCode.monitorLocked].sort(),
    )
    assert.ok(!success.includes(ExitCode.monitorErrors))
    assert.match(service, /ExecStart=.*jjm monitor --once/)
  })
})
