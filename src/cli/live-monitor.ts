/**
 * The terminal side of `jjm monitor --watch` on a TTY: draws each pass's
 * table in place with log-update, and keeps the latest log lines to show in
 * the frame, since a line written beside it would break the redraw.
 */
import { Writable } from 'node:stream'
import { createLogUpdate } from 'log-update'
import type { MonitorPass } from '../core/monitor.js'
import { renderMonitorView } from './monitor-view.js'

/** How many recent log lines the frame shows. */
const logLines = 5

export class LiveMonitorView {
  /** Give this to the logger: its lines appear under the table. */
  readonly logStream: Writable
  private readonly recent: string[] = []
  private partial = ''
  private readonly draw: ReturnType<typeof createLogUpdate>

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly options: { intervalSeconds: number },
  ) {
    this.draw = createLogUpdate(stream)
    this.logStream = new Writable({
      write: (chunk: Buffer | string, _encoding, done) => {
        this.keep(chunk.toString())
        done()
      },
    })
  }

  show(pass: MonitorPass, now: number): void {
    this.draw(
      renderMonitorView(pass, now, {
        intervalSeconds: this.options.intervalSeconds,
        log: this.recent,
        ...(this.stream.columns ? { width: this.stream.columns } : {}),
        ...(this.stream.rows ? { height: this.stream.rows } : {}),
      }),
    )
  }

  /** Leaves the last frame on the terminal and gives the cursor back. */
  done(): void {
    this.draw.done()
  }

  private keep(text: string): void {
    const lines = (this.partial + text).split('\n')
    this.partial = lines.pop() ?? ''
    for (const line of lines) if (line.trim() !== '') this.recent.push(line.trimEnd())
    this.recent.splice(0, Math.max(0, this.recent.length - logLines))
  }
}
