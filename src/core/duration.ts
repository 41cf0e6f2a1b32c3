const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * Milliseconds in a duration written for people: `90s`, `10m`, `2h`, `1h30m`;
 * a bare number is seconds. Undefined when `text` is not a duration: the
 * caller says which flag or key it came from.
 */
export function durationMs(text: string): number | undefined {
  const trimmed = text.trim().toLowerCase()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)]
  if (trimmed === '' || parts.map((part) => part[0]).join('') !== trimmed) return undefined
  return Math.round(parts.reduce((total, part) => total + Number(part[1]) * (unitMs[part[2] ?? 's'] ?? 1000), 0))
}
