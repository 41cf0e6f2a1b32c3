import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  activityFilterOf,
  advanceCursor,
  bindSentMessages,
  changedFilesOf,
  digestActivities,
  isNewActivity,
  timeKey,
} from '../../../src/core/activity-sync.js'
import type { Activity } from '../../../src/core/jules/client.js'
import type { NewChatMessage } from '../../../src/core/ports.js'
import type { ChatMessage } from '../../../src/core/task.js'

function activity(id: string, createTime: string, fields: Partial<Activity> = {}): Activity {
  return { name: `sessions/1/activities/${id}`, id, createTime, ...fields }
}

describe('activity sync', () => {
  it('orders times of different precision correctly', () => {
    assert.ok(timeKey('2026-01-01T00:00:00.1Z') > timeKey('2026-01-01T00:00:00.099999Z'))
    assert.equal(timeKey('2026-01-01T00:00:00Z'), timeKey('2026-01-01T00:00:00.000000000Z'))
  })

  it('treats an activity of the last recorded instant as new only when its name was not recorded', () => {
    const cursor = advanceCursor(undefined, [activity('a', '2026-01-01T00:00:01Z')], 'u1')
    assert.deepEqual(cursor, {
      sessionUpdateTime: 'u1',
      lastActivityTime: '2026-01-01T00:00:01Z',
      lastActivityNames: ['sessions/1/activities/a'],
    })
    assert.equal(isNewActivity(activity('a', '2026-01-01T00:00:01Z'), cursor), false)
    assert.equal(isNewActivity(activity('b', '2026-01-01T00:00:01.000Z'), cursor), true)
    assert.equal(isNewActivity(activity('c', '2026-01-01T00:00:00.5Z'), cursor), false)
    const tied = advanceCursor(cursor, [activity('b', '2026-01-01T00:00:01Z')], 'u2')
    assert.deepEqual(tied.lastActivityNames, ['sessions/1/activities/a', 'sessions/1/activities/b'])
  })

  it('asks Jules for activities from just before the last recorded one', () => {
    assert.equal(activityFilterOf(undefined), undefined)
    const cursor = advanceCursor(undefined, [activity('a', '2026-01-01T00:00:01.000Z')], null)
    assert.equal(activityFilterOf(cursor), 'create_time>"2026-01-01T00:00:00.999Z"')
  })

  it('keeps an activity of an unknown kind as a raw event and compares originators case-insensitively', () => {
    const digest = digestActivities([
      activity('a', '2026-01-01T00:00:01Z', { originator: 'USER', planApproved: { planId: 'p1' } }),
      activity('b', '2026-01-01T00:00:02Z', { originator: 'agent', codeReviewed: { verdict: 'ok' } }),
      activity('c', '2026-01-01T00:00:03Z', { originator: 'system', sessionCompleted: {} }),
    ])
    assert.deepEqual(
      digest.events.map((event) => [event.type, event.data.by ?? event.data.kind]),
      [
        ['plan_approved', 'user'],
        ['activity', 'codeReviewed'],
      ],
    )
    assert.deepEqual(digest.events[1]?.data.detail, { verdict: 'ok' })
    assert.equal(digest.events[0]?.at, '2026-01-01T00:00:01Z', 'an event is dated by its activity')
  })

  it('records messages as chat, and only the agent ones as events', () => {
    const digest = digestActivities([
      activity('a', '2026-01-01T00:00:01Z', { userMessaged: { userMessage: 'hi' } }),
      activity('b', '2026-01-01T00:00:02Z', { agentMessaged: { agentMessage: 'hello' } }),
      activity('c', '2026-01-01T00:00:03Z', { sessionFailed: { reason: 'boom' } }),
    ])
    assert.deepEqual(
      digest.chatMessages.map((message) => [message.role, message.text, message.activityId]),
      [
        ['user', 'hi', 'sessions/1/activities/a'],
        ['agent', 'hello', 'sessions/1/activities/b'],
      ],
    )
    assert.deepEqual(
      digest.events.map((event) => event.type),
      ['agent_message'],
    )
    assert.equal(digest.failureReason, 'boom')
  })

  it('reads added, deleted, renamed and modified files from a git patch', () => {
    const patch = [
      'diff --git a/src/a.ts b/src/a.ts',
      'index 1..2 100644',
      '--- a/src/a.ts',
      '+++ b/src/a.ts',
      '@@ -1,2 +1,2 @@',
      '--- a SQL comment removed',
      '+-- a SQL comment added',
      ' unchanged',
      'diff --git a/old.txt b/old.txt',
      'deleted file mode 100644',
      '--- a/old.txt',
      '+++ /dev/null',
      '@@ -1 +0,0 @@',
      '-gone',
      'diff --git a/from.md b/to.md',
      'similarity index 100%',
      'rename from from.md',
      'rename to to.md',
      'diff --git a/new.ts b/new.ts',
      'new file mode 100644',
      '--- /dev/null',
      '+++ b/new.ts',
      '@@ -0,0 +1 @@',
      '+export {}',
    ].join('\n')
    assert.deepEqual(changedFilesOf(patch), [
      { path: 'src/a.ts', changeType: 'modified' },
      { path: 'old.txt', changeType: 'deleted' },
      { path: 'to.md', changeType: 'renamed' },
      { path: 'new.ts', changeType: 'added' },
    ])
  })

  it('reads a plain unified diff without git headers', () => {
    const patch = [
      '--- a/x.txt',
      '+++ b/x.txt',
      '@@ -1 +1 @@',
      '-a',
      '+b',
      '--- /dev/null',
      '+++ b/y.txt',
      '@@ -0,0 +1 @@',
      '+y',
    ].join('\n')
    assert.deepEqual(changedFilesOf(patch), [
      { path: 'x.txt', changeType: 'modified' },
      { path: 'y.txt', changeType: 'added' },
    ])
  })
})

describe('binding messages sent through jjm to their activities', () => {
  function sent(id: string, text: string, activityId: string | null = null): ChatMessage {
    return { id, taskId: 't', role: 'user', text, activityId, at: '2026-01-01T00:00:10Z' }
  }
  function read(activityId: string, text: string, role: 'user' | 'agent' = 'user'): NewChatMessage {
    return { role, text, activityId, at: '2026-01-01T00:00:09Z' }
  }

  it('binds each user activity to the oldest unbound message of its text, instead of adding a copy', () => {
    const result = bindSentMessages(
      [read('a1', 'yes'), read('a2', 'Done', 'agent'), read('a3', 'yes')],
      [sent('m1', 'yes'), sent('m2', 'no'), sent('m3', 'yes')],
    )
    assert.deepEqual(result.boundMessages, [
      { messageId: 'm1', activityId: 'a1', at: '2026-01-01T00:00:09Z' },
      { messageId: 'm3', activityId: 'a3', at: '2026-01-01T00:00:09Z' },
    ])
    assert.deepEqual(result.chatMessages, [read('a2', 'Done', 'agent')])
  })

  it('keeps as new a user message sent elsewhere, and one more than jjm sent', () => {
    const result = bindSentMessages(
      [read('a1', 'yes'), read('a2', 'yes'), read('a3', 'from the web')],
      [sent('m1', 'yes')],
    )
    assert.deepEqual(
      result.boundMessages.map((binding) => binding.messageId),
      ['m1'],
    )
    assert.deepEqual(result.chatMessages, [read('a2', 'yes'), read('a3', 'from the web')])
  })

  it('never binds a message already bound, nor an activity already recorded', () => {
    const result = bindSentMessages(
      [read('a1', 'yes')],
      [sent('m1', 'yes', 'a0'), sent('m2', 'yes', 'a1'), sent('m3', 'yes')],
    )
    assert.deepEqual(result.boundMessages, [], 'a1 is recorded: the store drops the repeat')
    assert.deepEqual(result.chatMessages, [read('a1', 'yes')])
  })
})
