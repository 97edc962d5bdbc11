import type { BackendName } from '../backends/backend.js';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { getKernel } from '../kernels/registry.js';
import type { OpName } from '../kernels/ops.js';
import { describeBackend, describeMachine, type BackendInfo } from './environment.js';
import { totalFlops } from './flops.js';
import { createForwardSubject, describeFailure, type ForwardSubject } from './forward-cases.js';
import { DEFAULT_MEASURE, QUICK_MEASURE, measure, type MeasureOptions } from './measure.js';
import { opCases, type OpCase } from './op-cases.js';
import { defaultPlan, type BenchPlan } from './plan.js';
import { RESULT_SCHEMA, type BenchResult, type ForwardRecord, type OpRecord, type SkipRecord } from './result.js';

export const ALL_BACKENDS: readonly BackendName[] = ['js', 'wasm', 'webgpu'];

export interface SuiteOptions {
  /** Backends to time; default every one that can be created here. */
  backends?: readonly BackendName[];
  /** Run the op benchmarks (default true). */
  ops?: boolean;
  /** Run the end-to-end forwards (default true). */
  forwards?: boolean;
  /** Fewer sizes and repetitions. */
  quick?: boolean;
  /** Overrides of the sizes that `quick` selects. */
  plan?: Partial<BenchPlan>;
  /** Overrides of the repetition policy that `quick` selects. */
  measure?: Partial<MeasureOptions>;
  /** Recorded in the result: the command line that started the run. */
  command?: string | null;
  omninetVersion?: string | null;
  /** Called before each case and once at the end (done = total). */
  onProgress?: (progress: BenchProgress) => void;
}

export interface BenchProgress {
  done: number;
  total: number;
  /** The case about to run, e.g. "wasm attention seq 4096". */
  label: string;
}

/** One case to run on one backend. */
type Task = { kind: 'op'; backend: BackendName; case: OpCase } | { kind: 'forward'; backend: BackendName; variant: BenchPlan['variants'][number]; tokens: number };

/** Runs the benchmarks on every requested backend, one case at a time, and returns the result. */
export async function runBenchmarks(options: SuiteOptions = {}): Promise<BenchResult> {
  const quick = options.quick ?? false;
  const plan: BenchPlan = { ...defaultPlan(quick), ...options.plan };
  const policy: MeasureOptions = { ...(quick ? QUICK_MEASURE : DEFAULT_MEASURE), ...options.measure };
  const startedAt = new Date();
  const started = performance.now();

  const machine = await describeMachine();
  const backendInfos: BackendInfo[] = [];
  const dispatchers = new Map<BackendName, Dispatcher>();
  for (const name of options.backends ?? ALL_BACKENDS) {
    try {
      const dispatcher = await Dispatcher.create({ backend: name });
      dispatchers.set(name, dispatcher);
      backendInfos.push(await describeBackend(dispatcher.primary));
    } catch (error) {
      backendInfos.push({ name, available: false, reason: describeFailure(error), label: `${name} (unavailable)` });
    }
  }

  const skipped: SkipRecord[] = [];
  const tasks: Task[] = [];
  const softwareGpu = backendInfos.some((b) => b.name === 'webgpu' && b.webgpu?.software);
  const maxTokens = (backend: BackendName): number => {
    if (backend === 'js') return plan.jsMaxTokens;
    if (backend === 'webgpu' && softwareGpu) return plan.softwareGpuMaxTokens;
    return Infinity;
  };
  const capReason = (backend: BackendName): string =>
    backend === 'js'
      ? `the js backend is the float64 oracle; it runs cases up to ${plan.jsMaxTokens} tokens`
      : `the WebGPU adapter is software (the GPU emulated on the CPU); it runs cases up to ${plan.softwareGpuMaxTokens} tokens`;

  if (options.ops ?? true) {
    for (const c of opCases(plan)) {
      for (const backend of dispatchers.keys()) {
        if (!getKernel(c.op as OpName, backend)) {
          skipped.push({ kind: 'op', label: `${c.family} ${c.label}`, backend, reason: `backend ${backend} has no kernel for op ${c.op}` });
        } else if (c.tokens > maxTokens(backend)) {
          skipped.push({ kind: 'op', label: `${c.family} ${c.label}`, backend, reason: capReason(backend) });
        } else {
          tasks.push({ kind: 'op', backend, case: c });
        }
      }
    }
  }
  if (options.forwards ?? true) {
    for (const variant of plan.variants) {
      for (const backend of dispatchers.keys()) {
        for (const tokens of plan.forwardTokens) {
          if (tokens > maxTokens(backend)) skipped.push({ kind: 'forward', label: `${variant} ${tokens} tokens`, backend, reason: capReason(backend) });
          else tasks.push({ kind: 'forward', backend, variant, tokens });
        }
      }
    }
  }

  const ops: OpRecord[] = [];
  const forwards: ForwardRecord[] = [];
  // Tasks come grouped by (variant, backend), so one model at a time is alive.
  let current = null as { key: string; subject: ForwardSubject } | null;
  const failures = new Map<string, string>();
  const report = (done: number, label: string): void => options.onProgress?.({ done, total: tasks.length, label });
  const disposeDispatchers = (): void => {
    for (const dispatcher of dispatchers.values()) dispatcher.dispose();
  };

  try {
    for (const [index, task] of tasks.entries()) {
      if (task.kind === 'op') {
        report(index, `${task.backend} ${task.case.family} ${task.case.label}`);
        try {
          ops.push(await runOpCase(task.case, task.backend, dispatchers.get(task.backend)!, policy));
        } catch (error) {
          // One failing case (out of memory, say) leaves the others to run.
          skipped.push({ kind: 'op', label: `${task.case.family} ${task.case.label}`, backend: task.backend, reason: `failed: ${describeFailure(error)}` });
        }
        continue;
      }

      // The op benchmarks are over: free their memory (and GPU device) before models load.
      disposeDispatchers();
      report(index, `${task.backend} forward ${task.variant} ${task.tokens} tokens`);
      const key = `${task.variant}/${task.backend}`;
      if (current?.key !== key && !failures.has(key)) {
        current?.subject.model.dispose();
        current = null;
        try {
          current = { key, subject: await createForwardSubject(plan.model, task.variant, task.backend) };
        } catch (error) {
          failures.set(key, describeFailure(error));
        }
      }
      const failure = failures.get(key);
      if (failure !== undefined || !current) {
        skipped.push({ kind: 'forward', label: `${task.variant} ${task.tokens} tokens`, backend: task.backend, reason: failure ?? 'the model was not built' });
        continue;
      }
      try {
        forwards.push(await runForwardCase(current.subject, task.variant, task.backend, task.tokens, policy));
      } catch (error) {
        skipped.push({ kind: 'forward', label: `${task.variant} ${task.tokens} tokens`, backend: task.backend, reason: `failed: ${describeFailure(error)}` });
      }
    }
  } finally {
    current?.subject.model.dispose();
    disposeDispatchers();
  }
  report(tasks.length, 'done');

  return {
    schema: RESULT_SCHEMA,
    startedAt: startedAt.toISOString(),
    durationSeconds: (performance.now() - started) / 1000,
    command: options.command ?? null,
    omninetVersion: options.omninetVersion ?? null,
    machine,
    backends: backendInfos,
    settings: {
      quick,
      jsMaxTokens: plan.jsMaxTokens,
      softwareGpuMaxTokens: plan.softwareGpuMaxTokens,
      warmupSeconds: policy.warmupSeconds,
      minRepetitions: policy.minRepetitions,
      minSeconds: policy.minSeconds,
      slowRunSeconds: policy.slowRunSeconds,
      verySlowRunSeconds: policy.verySlowRunSeconds,
    },
    ops,
    forwards,
    skipped,
  };
}

async function runOpCase(c: OpCase, backend: BackendName, dispatcher: Dispatcher, policy: MeasureOptions): Promise<OpRecord> {
  const prepared = await c.prepare(dispatcher);
  // A GPU only records the work in run(); reading the output back waits for it to finish.
  const readsBack = !dispatcher.primary.downloadSync;
  try {
    const timing = await measure(async () => {
      const result = await prepared.run();
      if (readsBack) await dispatcher.download(result);
      result.dispose();
    }, policy);
    return {
      family: c.family,
      op: c.op,
      label: c.label,
      backend,
      tokens: c.tokens,
      params: c.params,
      flops: c.flops,
      gflops: c.flops / (timing.medianMs * 1e6),
      timing,
      ...(readsBack ? { note: 'includes reading the output back to the host' } : {}),
    };
  } finally {
    prepared.dispose();
  }
}

async function runForwardCase(subject: ForwardSubject, variant: string, backend: BackendName, tokens: number, policy: MeasureOptions): Promise<ForwardRecord> {
  const timing = await measure(() => subject.forward(tokens), policy);
  const flopsByOp = subject.flops(tokens);
  const flops = totalFlops(flopsByOp);
  return {
    variant,
    backend,
    batch: 1,
    tokens,
    model: subject.options,
    flops,
    flopsByOp,
    gflops: flops / (timing.medianMs * 1e6),
    opsByBackend: subject.opsByBackend,
    timing,
  };
}
