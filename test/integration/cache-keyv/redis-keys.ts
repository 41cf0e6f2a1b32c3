/**
 * Helpers of the Redis cache tests: removing one test's keys, and a TCP proxy
 * in front of the real Redis that a test can cut and restore to stage an
 * outage without stopping a Redis that other tests share.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net'

/** Deletes every key under `prefix` (SCAN, never KEYS, then DEL) and returns how many there were. */
export async function deleteKeys(url: string, prefix: string): Promise<number> {
  const { createClient } = await import('@keyv/redis')
  const client = createClient({ url })
  client.on('error', () => {})
  await client.connect()
  try {
    let deleted = 0
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
      if (keys.length > 0) deleted += await client.del(keys)
    }
    return deleted
  } finally {
    await client.close()
  }
}

/** Lists the keys under `prefix`. */
export async function listKeys(url: string, prefix: string): Promise<string[]> {
  const { createClient } = await import('@keyv/redis')
  const client = createClient({ url })
  client.on('error', () => {})
  await client.connect()
  try {
    const found: string[] = []
    for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) found.push(...keys)
    return found.sort()
  } finally {
    await client.close()
  }
}

export class TcpProxy {
  private server: Server | undefined
  private readonly sockets = new Set<Socket>()
  private port = 0

  private constructor(private readonly target: URL) {}

  static async start(targetUrl: string): Promise<TcpProxy> {
    const proxy = new TcpProxy(new URL(targetUrl))
    await proxy.listen()
    return proxy
  }

  /** The target's URL with the proxy's port. */
  get url(): string {
    const url = new URL(this.target.toString())
    url.hostname = '127.0.0.1'
    url.port = String(this.port)
    return url.toString()
  }

  /** Drops every connection and refuses new ones: Redis is "down". */
  async cut(): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** Accepts connections again, on the same port. */
  async restore(): Promise<void> {
    await this.listen()
  }

  async close(): Promise<void> {
    await this.cut()
  }

  private async listen(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect({ host: this.target.hostname, port: Number(this.target.port || 6379) })
      this.sockets.add(client)
      this.sockets.add(upstream)
      const drop = (): void => {
        client.destroy()
        upstream.destroy()
        this.sockets.delete(client)
        this.sockets.delete(upstream)
      }
      client.on('error', drop)
      upstream.on('error', drop)
      client.on('close', drop)
      upstream.on('close', drop)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    const address = server.address()
    if (address !== null && typeof address === 'object') this.port = address.port
    this.server = server
  }
}
