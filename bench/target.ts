/** One row of `npm run bench`'s table: a measured value that must stay at or below `max`. */
export interface Target {
  name: string
  /** A ratio of two timings measured in the same run, or a count. */
  ratio: number
  /** The two means, for the reader: `1.20 ms vs 0.20 ms`. */
  means?: string
  /** The ratio must stay at or below this. */
  max: number
  explain: string
}
