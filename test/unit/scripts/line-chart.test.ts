import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { formatValue, lineChart, niceTicks } from '../../../scripts/line-chart.js'

describe('the line charts of the docs’ panel pictures', () => {
  it('labels values in the panel’s unit', () => {
    assert.equal(formatValue(0.052, 'percentunit'), '5.2 %')
    assert.equal(formatValue(0.25, 's'), '250 ms')
    assert.equal(formatValue(900, 's'), '15 min')
    assert.equal(formatValue(50 * 1024 * 1024, 'bytes'), '50 MiB')
    assert.equal(formatValue(12_500), '12.5k')
  })

  it('puts round ticks over the range of the values', () => {
    assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1])
    assert.deepEqual(niceTicks(0, 340), [0, 100, 200, 300, 400])
  })

  it('draws one line per series, breaks it where a step is missing, and escapes names', () => {
    const svg = lineChart(
      [
        {
          name: 'GET /api/v1/tasks',
          points: [
            [0, 1],
            [10, 2],
            [20, 3],
            [50, 2],
            [60, 1],
          ],
        },
        {
          name: 'a<b & "c"',
          points: [
            [0, 0],
            [10, 0],
          ],
        },
      ],
      { title: 'Requests', start: 0, end: 60, step: 10 },
    )
    assert.equal(svg.match(/<polyline/g)?.length, 3, 'two segments for the first series, one for the second')
    assert.ok(svg.includes('a&#60;b &#38; &#34;c&#34;'))
    assert.ok(svg.includes('>Requests</text>'))
  })
})
