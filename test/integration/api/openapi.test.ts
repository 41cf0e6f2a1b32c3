import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createConfig, lintFromString } from '@redocly/openapi-core'
import { startTestDaemon, type TestDaemon } from '../../support/api.js'

describe('the OpenAPI document', () => {
  let api: TestDaemon
  before(async () => {
    api = await startTestDaemon()
  })
  after(async () => {
    await api.close()
  })

  it('passes the Redocly recommended ruleset with no error and no warning', async () => {
    const answer = await api.call('GET', '/api/v1/openapi.json', { key: null })
    assert.equal(answer.status, 200)
    // Health and documentation endpoints have no client error to describe; every other rule applies.
    const config = await createConfig({ extends: ['recommended'], rules: { 'operation-4xx-response': 'off' } })
    const problems = await lintFromString({ source: answer.text, absoluteRef: 'openapi.json', config })
    const described = problems.map(
      (problem) => `${problem.severity} ${problem.ruleId}: ${problem.message} at ${problem.location[0]?.pointer}`,
    )
    assert.deepEqual(described, [])
  })

  it('lists every route the server mounts, with the scope it needs', async () => {
    const document = (await api.call('GET', '/api/v1/openapi.json', { key: null })).body
    for (const route of api.daemon.api.routes) {
      const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}')
      const operation = document.paths[path]?.[route.method.toLowerCase()]
      assert.ok(operation, `${route.method} ${path} is documented`)
      if (route.scope !== 'public') assert.equal(operation['x-required-scope'], route.scope)
    }
  })

  it('describes request bodies with the same schema that validates them', async () => {
    const document = (await api.call('GET', '/api/v1/openapi.json', { key: null })).body
    const input = document.components.schemas.TaskInput
    assert.ok(input.properties.prompt)
    assert.equal(input.additionalProperties, false)
    const refused = await api.call('POST', '/api/v1/tasks', {
      body: { prompt: 'x', repository: 'acme/api', colour: 'red' },
    })
    assert.equal(refused.status, 400, 'a field the document does not list is refused')
  })

  it('serves a readable page at /docs', async () => {
    const page = await api.call('GET', '/docs', { key: null })
    assert.equal(page.status, 200)
    assert.match(page.headers['content-type'] ?? '', /text\/html/)
    assert.match(page.text, /\/api\/v1\/tasks\/\{id\}\/approve/)
  })
})
