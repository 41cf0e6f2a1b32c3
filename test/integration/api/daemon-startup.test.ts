import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { startDaemon } from '../../../src/api/daemon.js'
import { BackendRegistry } from '../../../src/core/backends.js'
import { ManualClock } from '../../../src/core/clock.js'
import { loadConfig } from '../../../src/core/config.js'
import { openCore } from '../../../src/core/core.js'
import { ConfigurationError } from '../../../src/core/errors.js'
import { createHealthRunner } from '../../../src/core/health.js'
import { Metrics } from '../../../src/core/metrics.js'
import { silentLogger } from '../../../src/core/ports.js'
import hook from '../../../src/plugins/backends-hook.js'
import { redis } from '../../support/services.js'

/** A port something else listens on. */
async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { port: address.port, server }
}

/** Sockets and servers this process holds open (what keeps it from exiting). */
function openSockets(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'TCPSocketWrap' || kind === 'TCPServerWrap').length
}

describe('a daemon that fails to start', { timeout: 60_000 }, () => {
  for (const which of ['--port', '--metrics-port'] as const) {
    it(`releases the health checks, the Redis client and the API port when ${which} is taken`, async (t) => {
      const rd = await redis(t)
      if (!rd) return
      const dir = await mkdtemp(join(tmpdir(), 'jjm-startup-'))
      const config = await loadConfig({
        configDir: join(dir, 'config'),
        dataDir: join(dir, 'data'),
        env: { JJM_JULES: 'sim', REDIS_URL: rd.url, JJM_CACHE_NAMESPACE: rd.prefix.slice(0, -1) },
      })
      const registry = new BackendRegistry()
      registry.register('jjm', await (hook as unknown as () => Promise<Parameters<BackendRegistry['register']>[1]>)())
      const core = await openCore({ config, logger: silentLogger, registry, clock: new ManualClock(), version: 'test' })
      const taken = await takenPort()
      try {
        const health = createHealthRunner(core, 'test', silentLogger)
        let healthStopped = false
        const stopHealth = health.stop.bind(health)
        health.stop = async () => {
          healthStopped = true
          await stopHealth()
        }
        const before = openSockets()
        await assert.rejects(
          startDaemon({
            core,
            logger: silentLogger,
            version: 'test',
            host: '127.0.0.1',
            port: which === '--port' ? taken.port : 0,
            monitor: true,
            monitorIntervalMs: 50,
            metrics: new Metrics({ version: 'test' }),
            metricsPort: which === '--metrics-port' ? taken.port : 0,
            health,
          }),
          (error: unknown) =>
            error instanceof ConfigurationError &&
            error.message.includes(`Port ${taken.port} on 127.0.0.1 is in use`) &&
            error.message.includes(which),
        )
        assert.ok(healthStopped, 'the health checks are stopped')
        // A closed socket leaves the list once its close has gone through the event loop.
        const deadline = Date.now() + 5_000
        while (openSockets() > before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
        assert.equal(openSockets(), before, 'no socket or server of the daemon is left open (Redis, the API port)')
      } finally {
        taken.server.close()
        await core.close()
        await rm(dir, { recursive: true, force: true })
      }
    })
  }
})
