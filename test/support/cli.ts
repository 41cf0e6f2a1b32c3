/**
 * Runs the real, built `bin/run.js` as a user would: a subprocess with only
 * the environment it is given (plus PATH), and an empty standard input, as
 * from cron. Shared by the end-to-end tests.
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'

export const root = new URL('../..', import.meta.url).pathname
export const runJs = join(root, 'bin', 'run.js')

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/**
 * `input`, when given, is what the command reads on standard input (then
 * closed); `cwd`, the directory it runs in (default: the repository's root).
 */
export function jjm(args: string[], env: Record<string, string>, input?: string, cwd: string = root): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [runJs, ...args],
      { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0
        resolve({ code, stdout, stderr })
      },
    )
    // As from cron: standard input is empty, not an open pipe.
    child.stdin?.end(input)
  })
}

/** The command's --json output, or an error that shows what it printed instead. */
export function json<T>(run: Run): T {
  try {
    return JSON.parse(run.stdout) as T
  } catch {
    throw new Error(`not JSON (exit ${run.code}):\n${run.stdout}\n--- stderr ---\n${run.stderr}`)
  }
}
