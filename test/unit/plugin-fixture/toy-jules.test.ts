/**
 * The fixture plugin's toy Jules passes the same contract suite as jjm's own
 * Jules backends: what a plugin author does in their own package with
 * `import { describeJulesClientContract } from 'jjm/testing'`, driving their
 * Jules through a driver of their own.
 */
import type { JulesClient } from '../../../src/core/jules/client.js'
import { describeJulesClientContract } from '../../../src/testing/index.js'

// Plain JavaScript without type declarations: its one export is typed here, at the boundary.
const toyModule = new URL('../../fixtures/jjm-plugin-fixture/toy-jules.js', import.meta.url).href
const { openToyJules } = (await import(toyModule)) as {
  openToyJules: () => { client: JulesClient; settle(name: string): Promise<void> }
}

describeJulesClientContract('jjm-plugin-fixture (fixture-jules)', async () => {
  const toy = openToyJules()
  // No adapter: the plugin's plain coded errors are what the contract (and jjm) accept.
  return { client: toy.client, driver: { settle: (name) => toy.settle(name) }, close: async () => {} }
})
