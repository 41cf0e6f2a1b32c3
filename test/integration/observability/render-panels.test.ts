import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { mainPanels, renderPanels } from '../../../scripts/render-panels.js'
import { startPrometheus, tools } from '../../support/prometheus.js'

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

describe('scripts/render-panels.ts', () => {
  it('draws a PNG chart of each query with data from a real Prometheus, and lists the ones without', async (t) => {
    if (!(await tools(t, ['rsvg-convert']))) return
    const prometheus = await startPrometheus(t, { scrapeSelf: true })
    if (!prometheus) return
    const out = await mkdtemp(join(tmpdir(), 'jjm-panels-test-'))
    try {
      await prometheus.waitForTarget('prometheus')
      await sleep(3_000) // a few scrapes, so rates have two points
      const end = Date.now() / 1000
      const lines: string[] = []
      const result = await renderPanels({
        prometheus: prometheus.url,
        start: end - 30,
        end,
        step: 1,
        scrapeInterval: 1,
        job: 'prometheus',
        instance: '.*',
        out,
        panels: [],
        exprs: [
          { title: 'Scrapes', expr: 'up{job="$job"}' },
          {
            title: 'Samples per second',
            expr: 'sum(rate(prometheus_tsdb_head_samples_appended_total[$__rate_interval]))',
          },
          { title: 'Nothing', expr: 'jjm_no_such_metric_total' },
        ],
        log: (line) => lines.push(line),
      })
      assert.deepEqual(
        result.written.map((path) => path.slice(out.length + 1)),
        ['panel-scrapes.png', 'panel-samples-per-second.png'],
      )
      assert.deepEqual(result.empty, ['Nothing'])
      for (const path of result.written) {
        assert.deepEqual((await readFile(path)).subarray(0, 8), pngSignature, `${path} is a PNG`)
      }
      assert.ok(lines.includes('no data: Nothing'))
    } finally {
      await prometheus.stop()
      await rm(out, { recursive: true, force: true })
    }
  })

  it('knows every main panel it draws by the title it has in the dashboard', async (t) => {
    const prometheus = await startPrometheus(t)
    if (!prometheus) return
    const out = await mkdtemp(join(tmpdir(), 'jjm-panels-test-'))
    try {
      const end = Date.now() / 1000
      const base = {
        prometheus: prometheus.url,
        start: end - 60,
        end,
        step: 5,
        scrapeInterval: 1,
        job: 'jjm',
        instance: '.*',
        out,
        exprs: [],
        log: () => {},
      }
      const result = await renderPanels({ ...base, panels: mainPanels })
      assert.deepEqual(result.empty, mainPanels, 'an empty Prometheus has no data for any of them')
      await assert.rejects(renderPanels({ ...base, panels: ['No such panel'] }), /no panel titled "No such panel"/)
    } finally {
      await prometheus.stop()
      await rm(out, { recursive: true, force: true })
    }
  })
})
