/**
 * Resolves with the first SIGTERM or SIGINT. The listeners stay attached (not
 * `once`) until then: proper-lockfile's signal-exit kills the process on a
 * signal when its own listener is the only one left, which a `once` listener
 * would be by the time signal-exit looks — cutting a graceful stop short.
 */
export function nextStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      // A second signal while stopping is ignored here; the listeners go once the stop is done.
      resolve(signal)
      setImmediate(() => {
        process.off('SIGTERM', stop)
        process.off('SIGINT', stop)
      }).unref()
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}
