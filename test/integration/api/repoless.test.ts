import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startTestDaemon, type TestDaemon } from '../../support/api.js'

describe('the REST API: tasks on no repository', { timeout: 60_000 }, () => {
  let api: TestDaemon
  before(async () => {
    api = await startTestDaemon()
  })
  after(async () => {
    await api.close()
  })

  it('creates a task from a prompt alone, with an empty repository, source and branch', async () => {
    const answer = await api.call('POST', '/api/v1/tasks', { body: { prompt: 'Summarise RFC 9457' } })
    assert.equal(answer.status, 201, answer.text)
    assert.equal(answer.body.repository, '')
    assert.equal(answer.body.source, '')
    assert.equal(answer.body.branch, '')
    const listed = await api.call('GET', '/api/v1/tasks?limit=200')
    assert.ok(listed.body.items.some((task: { id: string }) => task.id === answer.body.id))
  })

  it('refuses a branch without a repository with a problem that says what to do', async () => {
    const answer = await api.call('POST', '/api/v1/tasks', { body: { prompt: 'Summarise', branch: 'develop' } })
    assert.equal(answer.status, 400, answer.text)
    assert.match(answer.body.detail, /needs a repository/)
  })

  it('says in the OpenAPI document that an empty repository means a task on no repository', async () => {
    const answer = await api.call('GET', '/api/v1/openapi.json', { key: null })
    const task = answer.body.components.schemas.Task
    assert.match(task.properties.repository.description, /no repository/)
  })
})
