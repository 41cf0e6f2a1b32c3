/**
 * One Jules account's request budget in Redis, shared by every jjm process
 * on that Redis: the request count is rate-limiter-flexible's Redis limiter
 * (with its in-memory insurance limiter while Redis is unreachable), and a
 * 429's pause is one key holding the instant requests resume, which every
 * process reads before each request.
 *
 * Loaded only by the redis cache backend, itself loaded lazily.
 */
import {
  flexibleLimiter,
  type JulesBudgetStore,
  type JulesBudgetStoreOptions,
  type SharedPause,
} from '../../core/rate-limit.js'

/** What the budget needs of a node-redis client (the cache's). */
export interface BudgetRedisClient {
  get(key: string): Promise<string | null>
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
}

export interface RedisJulesBudgetOptions extends JulesBudgetStoreOptions {
  client: BudgetRedisClient
  /** Put in front of every key. Default `jjm:jules-budget:`: the quota is Jules' per account, whatever jjm database uses it. */
  prefix?: string
}

export const defaultJulesBudgetPrefix = 'jjm:jules-budget:'

/**
 * Sets the pause unless one that ends later is already there, atomically, so
 * that two processes recording 429s at once keep the longer pause.
 * KEYS[1] the pause key; ARGV: until (ms), the value, the expiry (ms).
 */
const keepLaterPause = `
local current = redis.call('GET', KEYS[1])
if current then
  local ends = tonumber(string.match(current, '"untilMs":(%d+)'))
  if ends and ends >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`

/**
 * The Redis limiter sets expiries in whole seconds: the window is the
 * burst's worth of seconds, rounded up, and the points what `perMinute`
 * allows in it (at most the burst), so the store never grants more than
 * `perMinute` in the long run.
 */
export function budgetWindow(perMinute: number, burst: number): { points: number; durationSeconds: number } {
  const durationSeconds = Math.max(1, Math.ceil((60 * burst) / perMinute))
  const points = Math.max(1, Math.min(burst, Math.floor((perMinute * durationSeconds) / 60)))
  return { points, durationSeconds }
}

export async function openRedisJulesBudget(options: RedisJulesBudgetOptions): Promise<JulesBudgetStore> {
  const flexible = await import('rate-limiter-flexible')
  const prefix = `${options.prefix ?? defaultJulesBudgetPrefix}${options.account}`
  const { points, durationSeconds } = budgetWindow(options.perMinute, options.burst)
  const limiter = flexibleLimiter(flexible, {
    keyPrefix: `${prefix}:requests`,
    points,
    duration: durationSeconds,
    redis: options.client,
  })
  const pauseKey = `${prefix}:pause`
  const { client } = options
  return {
    async take() {
      try {
        await limiter.consume('all')
        return 0
      } catch (rejected) {
        if (rejected instanceof Error) throw rejected
        return Math.max(1, (rejected as InstanceType<typeof flexible.RateLimiterRes>).msBeforeNext)
      }
    },
    async pause() {
      const raw = await client.get(pauseKey)
      return raw === null ? null : parsePause(raw)
    },
    async pauseUntil(pause, ttlMs) {
      const value: SharedPause = { untilMs: Math.round(pause.untilMs), retryAfterSeconds: pause.retryAfterSeconds }
      // Kept a little past its end: a process whose clock runs behind still sees all of it.
      const expiry = Math.max(1, Math.ceil(ttlMs)) + 5_000
      await client.eval(keepLaterPause, {
        keys: [pauseKey],
        arguments: [String(value.untilMs), JSON.stringify(value), String(expiry)],
      })
    },
  }
}

/** A value another process (maybe of another version) wrote: anything unexpected is no pause. */
function parsePause(raw: string): SharedPause | null {
  try {
    const value = JSON.parse(raw) as { untilMs?: unknown; retryAfterSeconds?: unknown }
    if (typeof value.untilMs !== 'number' || !Number.isFinite(value.untilMs)) return null
    return {
      untilMs: value.untilMs,
      retryAfterSeconds: typeof value.retryAfterSeconds === 'number' ? value.retryAfterSeconds : null,
    }
  } catch {
    return null
  }
}
