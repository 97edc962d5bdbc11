/** Summary of the timed repetitions of one benchmark case, in milliseconds. */
export interface Timing {
  repetitions: number;
  /** Warm-up runs before the timed ones (their times are not in `samplesMs`). */
  warmupRuns: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** First and third quartiles (linear interpolation between order statistics). */
  q1Ms: number;
  q3Ms: number;
  samplesMs: number[];
}

/** How many times to run a case. */
export interface MeasureOptions {
  /** Warm-up time: runs repeat until this much has passed, at least once. */
  warmupSeconds: number;
  minRepetitions: number;
  /** Timed runs repeat until both minRepetitions and minSeconds are reached, or maxRepetitions. */
  minSeconds: number;
  maxRepetitions: number;
  /** A case whose warm-up run takes longer than this gets 3 timed runs. */
  slowRunSeconds: number;
  /** A case whose warm-up run takes longer than this gets 1 timed run, and no spread. */
  verySlowRunSeconds: number;
}

export const DEFAULT_MEASURE: MeasureOptions = {
  warmupSeconds: 0.2,
  minRepetitions: 5,
  minSeconds: 1,
  maxRepetitions: 200,
  slowRunSeconds: 2,
  verySlowRunSeconds: 20,
};

export const QUICK_MEASURE: MeasureOptions = {
  warmupSeconds: 0.05,
  minRepetitions: 3,
  minSeconds: 0.3,
  maxRepetitions: 50,
  slowRunSeconds: 1,
  verySlowRunSeconds: 5,
};

/** Times `run`, which must finish its work before it returns or resolves, after warming up. */
export async function measure(run: () => Promise<void> | void, options: MeasureOptions): Promise<Timing> {
  let warmupRuns = 0;
  let lastWarmupMs = 0;
  const warmupEnd = performance.now() + options.warmupSeconds * 1000;
  do {
    const start = performance.now();
    await run();
    lastWarmupMs = performance.now() - start;
    warmupRuns++;
  } while (performance.now() < warmupEnd);

  let minRepetitions = options.minRepetitions;
  let minSeconds = options.minSeconds;
  if (lastWarmupMs > options.verySlowRunSeconds * 1000) {
    minRepetitions = 1;
    minSeconds = 0;
  } else if (lastWarmupMs > options.slowRunSeconds * 1000) {
    minRepetitions = Math.min(minRepetitions, 3);
    minSeconds = 0;
  }

  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < options.maxRepetitions && (samples.length < minRepetitions || performance.now() - start < minSeconds * 1000)) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  return summarize(samples, warmupRuns);
}

/** Returns the median, extremes and quartiles of `samples` (at least one). */
export function summarize(samples: readonly number[], warmupRuns = 0): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    repetitions: sorted.length,
    warmupRuns,
    medianMs: quantile(sorted, 0.5),
    minMs: sorted[0],
    maxMs: sorted[sorted.length - 1],
    q1Ms: quantile(sorted, 0.25),
    q3Ms: quantile(sorted, 0.75),
    samplesMs: [...samples],
  };
}

/** Returns the q-quantile of ascending `sorted`, interpolating linearly between neighbours. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}
