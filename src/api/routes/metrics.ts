import type { Metrics } from '../../core/metrics.js'
import type { ApiRequest, ApiResponse } from '../http.js'
import type { Route } from '../route.js'

/** Answers a scrape: OpenMetrics (with exemplars) when the scraper asks for it, else the Prometheus text format. */
export async function sendMetrics(metrics: Metrics, req: Pick<ApiRequest, 'headers'>, res: ApiResponse): Promise<void> {
  const accept = req.headers.accept
  const exposition = await metrics.expose(Array.isArray(accept) ? accept.join(', ') : accept)
  res.writeHead(200, {
    'Content-Type': exposition.contentType,
    'Content-Length': Buffer.byteLength(exposition.body),
    'Cache-Control': 'no-store',
  })
  res.end(exposition.body)
}

/** `/metrics` on the API port (`api.metricsOnApiPort`): public, like /health. */
export function metricsRoutes(metrics: Metrics): Route[] {
  return [
    {
      method: 'GET',
      path: '/metrics',
      scope: 'public',
      tag: 'health',
      summary: 'Prometheus metrics (also on the metrics port); OpenMetrics with exemplars when asked for.',
      responses: {
        200: { description: 'The Prometheus text format, or OpenMetrics per Accept.', mediaType: 'text/plain' },
      },
      handler: (req, res) => sendMetrics(metrics, req, res),
    },
  ]
}
