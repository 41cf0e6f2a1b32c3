import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { BackendRegistry } from '../../../src/core/backends.js'
import { ManualClock } from '../../../src/core/clock.js'
import { loadConfig } from '../../../src/core/config.js'
import { openCore } from '../../../src/core/core.js'
import { silentLogger } from '../../../src/core/ports.js'
import hook from '../../../src/plugins/backends-hook.js'

describe('monitor.leaseTtlSeconds', { timeout: 30_000 }, () => {
  it('is how long a sync holds its task’s lease, by the database’s clock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'jjm-lease-ttl-'))
    const config = await loadConfig({
      configDir: join(dir, 'config'),
      dataDir: join(dir, 'data'),
      env: { JJM_JULES: 'sim', JJM_MONITOR_LEASE_TTL_SECONDS: '7' },
    })
    const registry = new BackendRegistry()
    registry.register('jjm', await (hook as unknown as () => Promise<Parameters<BackendRegistry['register']>[1]>)())
    const core = await openCore({ config, logger: silentLogger, registry, clock: new ManualClock(), version: 'test' })
    try {
      const task = await core.manager.createTask({ prompt: 'Hold the lease', repository: 'acme/api' })
      // Read the lease while the sync holds it: during its read of the session.
      const getSession = core.jules.getSession.bind(core.jules)
      let leaseUntil: string | null | undefined
      core.jules.getSession = async (name) => {
        leaseUntil = (await core.store.getSyncState(task.id))?.leaseUntil
        return getSession(name)
      }
      const asked = Date.now()
      await core.monitor.syncOnce({ force: true })
      assert.ok(leaseUntil, 'the sync held a lease')
      const ttlMs = Date.parse(leaseUntil) - asked
      assert.ok(ttlMs > 5_000 && ttlMs <= 8_000, `the lease ran ${ttlMs} ms from the sync`)
    } finally {
      await core.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})
