import type { BatchCounts } from '../types';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** One status line on an interactive terminal, redrawn in place with the time elapsed; nothing at all when `enabled` is false. */
export class StatusLine {
  private frame = 0;
  private text = '';
  private timer?: NodeJS.Timeout;
  private readonly started = Date.now();

  constructor(private readonly stream: NodeJS.WriteStream, private readonly enabled: boolean) {}

  start(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
  }

  update(text: string): void {
    this.text = text;
    if (this.enabled) this.draw();
  }

  stop(): void {
    if (!this.enabled) return;
    clearInterval(this.timer);
    this.stream.write('\r\x1b[2K');
  }

  private draw(): void {
    this.stream.write(`\r\x1b[2K${FRAMES[this.frame++ % FRAMES.length]} ${this.text}  ${seconds(Date.now() - this.started)}`);
  }
}

export const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** `[#####-----] 5/10  succeeded 4  failed 1  running 2  queued 3  cancelled 0` */
export function progressBar(counts: BatchCounts, total: number, width = 24): string {
  const done = counts.succeeded + counts.failed + counts.cancelled;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}  ${countsLine(counts)}`;
}

export const countsLine = (c: BatchCounts) => `succeeded ${c.succeeded}  failed ${c.failed}  running ${c.running}  queued ${c.queued}  cancelled ${c.cancelled}`;
