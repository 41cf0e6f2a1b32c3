/**
 * A small SVG line chart for the docs' pictures of the dashboard panels:
 * time on x, one line per series, a legend underneath. No chart library: the
 * pictures need axes, lines and a legend, nothing more.
 */

export interface ChartSeries {
  name: string
  /** [Unix seconds, value]; a missing step breaks the line. */
  points: [number, number][]
}

export interface ChartOptions {
  title: string
  /** Grafana's unit of the panel: percentunit, s, bytes, reqps, ops, short, none. */
  unit?: string
  start: number
  end: number
  /** The step of the points, to tell a gap from the next point. */
  step: number
  width?: number
  height?: number
  min?: number
  max?: number
}

const palette = ['#7eb26d', '#eab839', '#6ed0e0', '#ef843c', '#e24d42', '#1f78c1', '#ba43a9', '#705da0', '#508642']

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** A value as the panel's unit shows it, short enough for an axis. */
export function formatValue(value: number, unit = 'short'): string {
  const trim = (n: number) => {
    const text = Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2)
    return text.includes('.') ? text.replace(/\.?0+$/, '') : text
  }
  switch (unit) {
    case 'percentunit':
      return `${trim(value * 100)} %`
    case 's':
      if (value !== 0 && Math.abs(value) < 1) return `${trim(value * 1000)} ms`
      if (Math.abs(value) >= 3600) return `${trim(value / 3600)} h`
      if (Math.abs(value) >= 60) return `${trim(value / 60)} min`
      return `${trim(value)} s`
    case 'bytes': {
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
      let scaled = value
      let index = 0
      while (Math.abs(scaled) >= 1024 && index < units.length - 1) {
        scaled /= 1024
        index++
      }
      return `${trim(scaled)} ${units[index]}`
    }
    case 'reqps':
      return `${trim(value)} req/s`
    case 'ops':
      return `${trim(value)} /s`
    default: {
      if (Math.abs(value) >= 1e6) return `${trim(value / 1e6)}M`
      if (Math.abs(value) >= 1e3) return `${trim(value / 1e3)}k`
      return trim(value)
    }
  }
}

/** About `count` round tick values covering [low, high]. */
export function niceTicks(low: number, high: number, count = 5): number[] {
  if (high === low) high = low + 1
  const rough = (high - low) / count
  const magnitude = 10 ** Math.floor(Math.log10(rough))
  const step = ([1, 2, 2.5, 5, 10].find((f) => f * magnitude >= rough) ?? 10) * magnitude
  const ticks: number[] = []
  // From the last round value at or under low to the first at or over high.
  for (let tick = Math.floor(low / step) * step; ; tick += step) {
    ticks.push(Number(tick.toPrecision(12)))
    if (tick >= high - step / 1e6) break
  }
  return ticks
}

function clock(seconds: number, span: number): string {
  const date = new Date(seconds * 1000)
  const hhmm = `${String(date.getUTCHours()).padStart(2, '0')}:${String(date.getUTCMinutes()).padStart(2, '0')}`
  if (span <= 600) return `${hhmm}:${String(date.getUTCSeconds()).padStart(2, '0')}`
  if (span > 2 * 86400) return `${date.getUTCMonth() + 1}/${date.getUTCDate()} ${hhmm}`
  return hhmm
}

export function lineChart(series: ChartSeries[], options: ChartOptions): string {
  const width = options.width ?? 800
  const columns = 2
  const legendRows = Math.ceil(series.length / columns)
  const height = (options.height ?? 280) + legendRows * 18
  const left = 78
  const right = 40
  const top = 36
  const plotHeight = (options.height ?? 280) - top - 34
  const plotWidth = width - left - right
  const values = series.flatMap((s) => s.points.map((p) => p[1]))
  let low = options.min ?? Math.min(0, ...values)
  let high = options.max ?? Math.max(...values, low + (options.unit === 'percentunit' ? 0.01 : 1))
  if (options.min !== undefined && values.some((v) => v < options.min!)) low = Math.min(...values)
  if (options.max !== undefined && values.some((v) => v > options.max!)) high = Math.max(...values)
  const ticks = niceTicks(low, high)
  low = Math.min(low, ticks[0] as number)
  high = Math.max(high, ticks[ticks.length - 1] as number)
  const x = (t: number) => left + ((t - options.start) / Math.max(1, options.end - options.start)) * plotWidth
  const y = (v: number) => top + plotHeight - ((v - low) / (high - low)) * plotHeight

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#181b1f"/>`,
    `<text x="${left}" y="22" fill="#ccccdc" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
  ]
  for (const tick of ticks) {
    const ty = y(tick).toFixed(1)
    parts.push(`<line x1="${left}" x2="${width - right}" y1="${ty}" y2="${ty}" stroke="#2c3235"/>`)
    parts.push(
      `<text x="${left - 6}" y="${ty}" fill="#8e8e8e" text-anchor="end" dominant-baseline="middle">${escapeXml(formatValue(tick, options.unit))}</text>`,
    )
  }
  const span = options.end - options.start
  for (let i = 0; i <= 6; i++) {
    const t = options.start + (span * i) / 6
    const tx = x(t).toFixed(1)
    parts.push(`<line x1="${tx}" x2="${tx}" y1="${top}" y2="${top + plotHeight}" stroke="#2c3235"/>`)
    parts.push(
      `<text x="${tx}" y="${top + plotHeight + 18}" fill="#8e8e8e" text-anchor="middle">${escapeXml(clock(t, span))}</text>`,
    )
  }
  series.forEach((s, index) => {
    const color = palette[index % palette.length] as string
    let segment: string[] = []
    let previous: number | undefined
    const flush = () => {
      if (segment.length === 1)
        parts.push(
          `<circle cx="${segment[0]?.split(',')[0]}" cy="${segment[0]?.split(',')[1]}" r="2" fill="${color}"/>`,
        )
      if (segment.length > 1) {
        parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${segment.join(' ')}"/>`)
      }
      segment = []
    }
    for (const [t, v] of s.points) {
      if (previous !== undefined && t - previous > options.step * 1.5) flush()
      segment.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`)
      previous = t
    }
    flush()
    const lx = left + (index % columns) * Math.floor(plotWidth / columns)
    const ly = (options.height ?? 280) + Math.floor(index / columns) * 18 - 4
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="4" fill="${color}"/>`)
    // About 7 px a character at 12 px: cut what would run into the next column.
    const room = Math.floor((plotWidth / columns - 28) / 7)
    const label = s.name.length > room ? `${s.name.slice(0, room - 1)}…` : s.name
    parts.push(`<text x="${lx + 20}" y="${ly - 3}" fill="#ccccdc">${escapeXml(label)}</text>`)
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}
