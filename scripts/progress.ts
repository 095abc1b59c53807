/**
 * Progress of long runs (fuzz, soak, benchmarks) on stderr, so stdout keeps only the JSON result:
 * a line at each phase, and a heartbeat every `intervalMs` with the elapsed time and the run's
 * own status. `MIMC_PROGRESS_MS` sets the interval (0 keeps the phase lines only).
 */
export interface Progress {
  /** Prints `label: what` now; later heartbeats name this phase. */
  phase(what: string): void;
  /** Ends the heartbeats (the timer never keeps the process alive anyway). */
  stop(): void;
}

export interface ProgressOptions {
  intervalMs?: number;
  /** Where a line goes (default: stderr). */
  write?: (line: string) => void;
}

function defaultInterval(): number {
  const raw = process.env.MIMC_PROGRESS_MS;
  const ms = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
  return Number.isFinite(ms) && ms >= 0 ? ms : 5000;
}

export function startProgress(label: string, status: () => string = () => '', options: ProgressOptions = {}): Progress {
  const write = options.write ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const intervalMs = options.intervalMs ?? defaultInterval();
  const started = performance.now();
  let current = '';
  const heartbeat = (): void => {
    const seconds = Math.round((performance.now() - started) / 1000);
    const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
    const detail = status();
    write(`${label}: ${seconds} s${current ? `, ${current}` : ''}${detail ? `, ${detail}` : ''} (rss ${rss} MiB)`);
  };
  const timer = intervalMs > 0 ? setInterval(heartbeat, intervalMs) : undefined;
  timer?.unref();
  return {
    phase(what) {
      current = what;
      write(`${label}: ${what}`);
    },
    stop() {
      clearInterval(timer);
    },
  };
}

/** `done/total unit (p %), ~N s left` for a run of countable steps. */
export function fraction(done: number, total: number, elapsedMs: number, unit = ''): string {
  const counted = `${done}/${total}${unit ? ` ${unit}` : ''}`;
  if (total <= 0) return counted;
  const pct = Math.floor((done / total) * 100);
  const left = done > 0 ? Math.round(((total - done) * elapsedMs) / done / 1000) : undefined;
  return `${counted} (${pct} %)${left === undefined ? '' : `, ~${left} s left`}`;
}
