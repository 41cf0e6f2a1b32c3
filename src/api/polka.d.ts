// polka 0.5 ships no types; this is the part jjm uses.
declare module 'polka' {
  import type { IncomingMessage, Server, ServerResponse } from 'node:http'

  type Next = (error?: unknown) => void
  type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => unknown
  interface PolkaOptions {
    server?: Server
    onError?: (error: unknown, req: IncomingMessage, res: ServerResponse, next: Next) => void
    onNoMatch?: (req: IncomingMessage, res: ServerResponse) => void
  }
  interface Polka {
    use(...handlers: Handler[]): Polka
    use(base: string, ...handlers: Handler[]): Polka
    get(pattern: string, ...handlers: Handler[]): Polka
    post(pattern: string, ...handlers: Handler[]): Polka
    put(pattern: string, ...handlers: Handler[]): Polka
    patch(pattern: string, ...handlers: Handler[]): Polka
    delete(pattern: string, ...handlers: Handler[]): Polka
    options(pattern: string, ...handlers: Handler[]): Polka
    find(method: string, path: string): { params: Record<string, string>; handlers: Handler[] } | undefined
    handler(req: IncomingMessage, res: ServerResponse): void
  }
  export default function polka(options?: PolkaOptions): Polka
}
