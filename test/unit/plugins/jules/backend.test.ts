import assert from 'node:assert/strict'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import type { JulesBackend } from '../../../../src/core/backends.js'
import { ManualClock } from '../../../../src/core/clock.js'
import { loadConfig } from '../../../../src/core/config.js'
import { createJulesClient } from '../../../../src/core/core.js'
import {
  AuthenticationError,
  ConfigurationError,
  InvalidStateError,
  OperationFailedError,
} from '../../../../src/core/errors.js'
import type { JulesClient } from '../../../../src/core/jules/client.js'
import { silentLogger } from '../../../../src/core/ports.js'
import { builtinRegistry } from '../../../support/registry.js'

const dir = join(tmpdir(), 'jjm-jules-backends-never-written')
const configFrom = (env: Record<string, string>) => loadConfig({ configDir: dir, dataDir: dir, env })

describe('the built-in Jules backends', { timeout: 30_000 }, () => {
  it('are registered by the root package’s jjm:backends hook, as a plugin’s would be', async () => {
    const registry = await builtinRegistry()
    assert.deepEqual(
      registry.list('jules').map(({ name, plugin }) => `${name} (from ${plugin})`),
      ['rest (from jjm)', 'mcp (from jjm)', 'sim (from jjm)'],
    )
  })

  it('opens the simulator on core’s clock, so that a manual clock moves its sessions', async () => {
    const clock = new ManualClock('2026-03-01T10:00:00Z')
    const client = await createJulesClient(await builtinRegistry(), {
      config: await configFrom({ JJM_JULES: 'sim', JJM_SIM_RUN_SECONDS: '20' }),
      logger: silentLogger,
      clock,
    })
    assert.equal(client.kind, 'sim')
    const session = await client.createSession({ prompt: 'x', sourceContext: { source: 'sources/github/acme/api' } })
    assert.equal(session.createTime, '2026-03-01T10:00:00.000Z')
    clock.advance(60_000)
    assert.equal((await client.getSession(session.name)).state, 'COMPLETED')
  })

  it('asks for an API key before building the rest client, suggesting --jules sim', async () => {
    const config = await configFrom({ JJM_JULES: 'rest' })
    await assert.rejects(
      createJulesClient(await builtinRegistry(), { config, logger: silentLogger }),
      (error: unknown) => {
        assert.ok(error instanceof AuthenticationError)
        assert.match(error.message, /JULES_API_KEY/)
        assert.match(error.message, /--jules sim/)
        return true
      },
    )
  })

  it('refuses an unknown Jules backend, listing each registered one with the plugin that provides it', async () => {
    const registry = await builtinRegistry()
    const grpc: JulesBackend = {
      kind: 'jules',
      name: 'grpc',
      description: 'a plugin’s Jules backend',
      open: async (): Promise<JulesClient> => assert.fail('not opened'),
    }
    registry.register('jjm-jules-grpc', { backends: [grpc] })
    const config = await configFrom({ JJM_JULES: 'nope' })
    await assert.rejects(createJulesClient(registry, { config, logger: silentLogger }), (error: unknown) => {
      assert.ok(error instanceof ConfigurationError)
      assert.match(error.message, /No jules backend is named "nope"/)
      assert.match(
        error.message,
        /Available: rest \(from jjm\), mcp \(from jjm\), sim \(from jjm\), grpc \(from jjm-jules-grpc\)\./,
      )
      assert.match(error.message, /--jules, JJM_JULES or jules\.backend/)
      return true
    })
  })

  it('opens a plugin’s Jules backend by its name, handing it config, storage, clock and version', async () => {
    const registry = await builtinRegistry()
    const clock = new ManualClock()
    let seen: Parameters<JulesBackend['open']>[0] | undefined
    const fake = { kind: 'toy' } as JulesClient
    registry.register('jjm-jules-toy', {
      backends: [
        {
          kind: 'jules',
          name: 'toy',
          description: 'a toy',
          open: async (options) => {
            seen = options
            return fake
          },
        },
      ],
    })
    const config = await configFrom({ JJM_JULES: 'toy' })
    const client = await createJulesClient(registry, { config, logger: silentLogger, clock, version: '1.2.3' })
    assert.equal(client.kind, 'toy')
    assert.equal(seen?.config, config)
    assert.equal(seen?.clock, clock)
    assert.equal(seen?.version, '1.2.3')
    assert.deepEqual(seen?.storage, {})
  })

  it('turns a plugin’s plain errors that carry jjm codes into the JjmErrors core tells apart', async () => {
    const registry = await builtinRegistry()
    const refuse = (code: string) => async () => {
      throw Object.assign(new Error(`refused: ${code}`), { code })
    }
    registry.register('jjm-jules-plain', {
      backends: [
        {
          kind: 'jules',
          name: 'plain',
          description: 'a plugin without a runtime dependency on jjm',
          open: async () =>
            ({
              kind: 'plain',
              getSession: refuse('JJM_JULES_NOT_FOUND'),
              approvePlan: refuse('JJM_INVALID_STATE'),
            }) as unknown as JulesClient,
        },
      ],
    })
    const config = await configFrom({ JJM_JULES: 'plain' })
    const client = await createJulesClient(registry, { config, logger: silentLogger })
    await assert.rejects(client.getSession('sessions/1'), (error: unknown) => {
      assert.ok(error instanceof OperationFailedError)
      assert.equal(error.code, 'JJM_JULES_NOT_FOUND')
      return true
    })
    await assert.rejects(client.approvePlan('sessions/1'), InvalidStateError)
    assert.equal(client.archiveSession, undefined, 'an action the plugin lacks stays absent')
  })
})
