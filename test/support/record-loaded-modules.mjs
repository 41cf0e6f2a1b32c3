// Preloaded (`node --import`) into a jjm process under test: appends the path
// or URL of every module file it loads to the file named by
// JJM_TEST_LOADED_MODULES, one a line, so that a test can see which packages
// a command loads. ES modules are seen by a loader hook (on Node's hooks
// thread, hence a write per module); CommonJS files are read from the require
// cache when the process exits.
import { appendFileSync } from 'node:fs'
import { createRequire, register } from 'node:module'

const out = process.env.JJM_TEST_LOADED_MODULES
if (out) {
  const hooks = `
import { appendFileSync } from 'node:fs'
export async function load(url, context, nextLoad) {
  if (url.startsWith('file:')) appendFileSync(${JSON.stringify(out)}, url + '\\n')
  return nextLoad(url, context)
}`
  register(`data:text/javascript,${encodeURIComponent(hooks)}`)
  const require = createRequire(import.meta.url)
  process.on('exit', () => {
    appendFileSync(out, `${Object.keys(require.cache).join('\n')}\n`)
  })
}
