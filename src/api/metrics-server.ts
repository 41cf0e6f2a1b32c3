/**
 * The metrics port: a small http.Server of its own that serves only
 * `/metrics`, so that Prometheus scrapes need no API key and the API port
 * can stay private (or the other way round).
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Metrics } from '../core/metrics.js'
import type { Logger } from '../core/ports.js'
import { sendMetrics } from './routes/metrics.js'

export interface MetricsServer {
  server: Server
  address: AddressInfo
  /** `http://host:port/metrics`. */
  url: string
  /** Stops accepting; a scrape in progress may finish within `deadlineMs`. */
  close(deadlineMs: number): Promise<void>
}

export async function startMetricsServer(options: {
  metrics: Metrics
  host: string
  port: number
  logger: Logger
}): Promise<MetricsServer> {
  const { metrics, logger } = options
  const server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' })
      res.end('Only /metrics is served on the metrics port.\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' })
      res.end('Use GET.\n')
      return
    }
    sendMetrics(metrics, req, res).catch((error: unknown) => {
      logger.error('Could not render the metrics', { error: error instanceof Error ? error.message : String(error) })
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' })
      res.end('The metrics could not be rendered; the daemon log says why.\n')
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    server,
    address,
    url: `http://${host}:${address.port}/metrics`,
    async close(deadlineMs) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Prometheus keeps its connection open between scrapes: an idle one must not hold the shutdown.
      server.closeIdleConnections()
      const timer = setTimeout(() => server.closeAllConnections(), deadlineMs)
      timer.unref()
      await closed
      clearTimeout(timer)
    },
  }
}
