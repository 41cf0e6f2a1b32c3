#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs'
import { arch, release } from 'node:os'

/**
 * `jjm --version` alone prints what oclif would print (its `config.userAgent`)
 * without loading oclif, which costs more than twice a bare `node` start.
 * Where oclif would name the platform differently (`wsl` under WSL), oclif answers.
 * test/e2e/startup-modules.test.ts checks that both print the same line.
 */
function userAgent() {
  const platform = process.platform
  if (platform === 'linux') {
    let kernel = release()
    try {
      kernel += readFileSync('/proc/version', 'utf8')
    } catch {}
    if (/microsoft/i.test(kernel) || existsSync('/proc/sys/fs/binfmt_misc/WSLInterop') || existsSync('/run/WSL')) {
      return undefined
    }
  }
  const { name, version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  const cpu = arch() === 'ia32' ? 'x86' : arch()
  return `${name}/${version} ${platform}-${cpu} node-${process.version}`
}

const quick = process.argv.length === 3 && process.argv[2] === '--version' ? userAgent() : undefined
if (quick === undefined) {
  const { execute } = await import('@oclif/core')
  await execute({ dir: import.meta.url })
} else {
  process.stdout.write(`${quick}\n`)
}
