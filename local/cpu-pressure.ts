import { readdirSync, readFileSync } from 'node:fs';

/** Readings closer together than this reuse the last one. */
const MIN_READING_INTERVAL_MS = 200;

/**
 * How hard this process's threads compete for the CPU: on average, how many of them were ready to run but waiting
 * for a core, over the time since the previous reading (Linux's per-thread scheduler statistics). The function
 * hosts read it before starting another container: when threads already queue for the CPU, another container only
 * adds its loading and JIT compilation to the queue.
 */
export class CpuPressure {
  private baseline?: { at: number; waitNs: number };
  private last?: { at: number; threadsWaiting: number };

  constructor(private readonly readWaitNs: () => number | undefined = runQueueWaitNs) {}

  /** Threads waiting for a CPU on average; 0 where the platform does not tell; undefined until a first interval has passed. */
  threadsWaiting(now = Date.now()): number | undefined {
    if (this.last && now - this.last.at < MIN_READING_INTERVAL_MS) return this.last.threadsWaiting;
    const waitNs = this.readWaitNs();
    if (waitNs === undefined) return 0;
    const base = this.baseline;
    if (base && now - base.at < MIN_READING_INTERVAL_MS) return this.last?.threadsWaiting;
    this.baseline = { at: now, waitNs };
    if (!base) return undefined;
    this.last = { at: now, threadsWaiting: (waitNs - base.waitNs) / 1e6 / (now - base.at) };
    return this.last.threadsWaiting;
  }
}

/** Total time (ns) this process's threads have spent runnable but not running, or undefined off Linux. */
function runQueueWaitNs(): number | undefined {
  try {
    let total = 0;
    for (const task of readdirSync('/proc/self/task')) {
      try {
        total += Number(readFileSync(`/proc/self/task/${task}/schedstat`, 'utf8').split(' ')[1]) || 0;
      } catch {
        // the thread ended meanwhile
      }
    }
    return total;
  } catch {
    return undefined;
  }
}

/** One reading shared by every function host of the process. */
export const processCpuPressure = new CpuPressure();
