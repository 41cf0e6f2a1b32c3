/**
 * Wire schemas: what jjm needs from Jules' answers. Objects are loose because
 * the API is an alpha: unknown fields are kept and unknown states or activity
 * kinds pass through; only a missing name (or session state) is an error.
 *
 * Shared by the adapters that receive Jules JSON (rest over HTTP, mcp as tool
 * results), so both read an answer the same way.
 */
import { z } from 'zod'
import type { Activity, Session, Source } from './client.js'

const looseRecord = z.looseObject({})

const changeSetSchema = z.looseObject({
  source: z.string().optional(),
  gitPatch: z
    .looseObject({
      unidiffPatch: z.string().optional(),
      baseCommitId: z.string().optional(),
      suggestedCommitMessage: z.string().optional(),
    })
    .optional(),
})

export const sessionSchema = z.looseObject({
  name: z.string().min(1),
  id: z.string().optional(),
  state: z.string().min(1),
  prompt: z.string().optional(),
  title: z.string().optional(),
  url: z.string().optional(),
  createTime: z.string().optional(),
  updateTime: z.string().optional(),
  sourceContext: z
    .looseObject({
      source: z.string(),
      githubRepoContext: z.looseObject({ startingBranch: z.string().optional() }).optional(),
      workingBranch: z.string().optional(),
      environmentVariablesEnabled: z.boolean().optional(),
    })
    .optional(),
  outputs: z
    .array(
      z.looseObject({
        pullRequest: z
          .looseObject({
            url: z.string(),
            title: z.string().optional(),
            description: z.string().optional(),
            baseRef: z.string().optional(),
            headRef: z.string().optional(),
          })
          .optional(),
        changeSet: changeSetSchema.optional(),
      }),
    )
    .optional(),
  archived: z.boolean().optional(),
  requirePlanApproval: z.boolean().optional(),
  automationMode: z.string().optional(),
})

const artifactSchema = z.looseObject({
  changeSet: changeSetSchema.optional(),
  media: z.looseObject({ data: z.string().optional(), mimeType: z.string().optional() }).optional(),
  bashOutput: z
    .looseObject({ command: z.string().optional(), output: z.string().optional(), exitCode: z.number().optional() })
    .optional(),
})

const planSchema = z.looseObject({
  id: z.string().optional(),
  createTime: z.string().optional(),
  steps: z
    .array(
      z.looseObject({
        id: z.string().optional(),
        title: z.string().optional(),
        description: z.string().optional(),
        index: z.number().optional(),
      }),
    )
    .optional(),
})

export const activitySchema = z.looseObject({
  name: z.string().min(1),
  id: z.string().optional(),
  description: z.string().optional(),
  createTime: z.string().optional(),
  originator: z.string().optional(),
  artifacts: z.array(artifactSchema).optional(),
  agentMessaged: z.looseObject({ agentMessage: z.string().optional() }).optional(),
  userMessaged: z.looseObject({ userMessage: z.string().optional() }).optional(),
  planGenerated: z.looseObject({ plan: planSchema.optional() }).optional(),
  planApproved: z.looseObject({ planId: z.string().optional() }).optional(),
  progressUpdated: z.looseObject({ title: z.string().optional(), description: z.string().optional() }).optional(),
  sessionCompleted: looseRecord.optional(),
  sessionFailed: z.looseObject({ reason: z.string().optional() }).optional(),
})

export const sourceSchema = z.looseObject({
  name: z.string().min(1),
  id: z.string().optional(),
  githubRepo: z
    .looseObject({
      owner: z.string(),
      repo: z.string(),
      isPrivate: z.boolean().optional(),
      defaultBranch: z.looseObject({ displayName: z.string() }).optional(),
      branches: z.array(z.looseObject({ displayName: z.string() })).optional(),
    })
    .optional(),
})

const nextPageToken = z.string().optional()

export const sessionPageSchema = z.looseObject({ sessions: z.array(sessionSchema).optional(), nextPageToken })
export const activityPageSchema = z.looseObject({ activities: z.array(activitySchema).optional(), nextPageToken })
export const sourcePageSchema = z.looseObject({ sources: z.array(sourceSchema).optional(), nextPageToken })

export const googleErrorSchema = z.looseObject({
  error: z.looseObject({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
  }),
})

/** `sessions/abc` → `abc`; `sessions/s/activities/a` → `a`. */
function lastSegment(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1)
}

// Jules documents these fields as always present; when an answer lacks one,
// jjm fills a neutral value rather than failing the whole call.
export function toSession(wire: z.infer<typeof sessionSchema>): Session {
  return {
    ...wire,
    id: wire.id ?? lastSegment(wire.name),
    prompt: wire.prompt ?? '',
    createTime: wire.createTime ?? '',
    updateTime: wire.updateTime ?? wire.createTime ?? '',
  }
}

export function toActivity(wire: z.infer<typeof activitySchema>): Activity {
  return { ...wire, id: wire.id ?? lastSegment(wire.name), createTime: wire.createTime ?? '' }
}

export function toSource(wire: z.infer<typeof sourceSchema>): Source {
  return { ...wire, id: wire.id ?? wire.name.replace(/^sources\//, '') }
}

/** Google may send an empty token on the last page; jjm's contract is "absent". */
export function withToken<T extends object>(page: T, token: string | undefined): T & { nextPageToken?: string } {
  return token ? { ...page, nextPageToken: token } : page
}
