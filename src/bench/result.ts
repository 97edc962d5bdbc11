import type { BackendInfo, MachineInfo } from './environment.js';
import type { Timing } from './measure.js';

/** Version tag of the JSON layout below; bump it when a field changes meaning. */
export const RESULT_SCHEMA = 'omninet-bench/1';

/** One timed op on one backend. */
export interface OpRecord {
  /**
   * Benchmark family: "gemm", "attention", "causal attention", "favorFeatures query",
   * "favorFeatures key", "linearAttention", "causalLinearAttention" or "layerNorm".
   */
  family: string;
  /** The op of src/kernels/ops.ts that ran. */
  op: string;
  /** Readable case, e.g. "1024×512×2048 ff net.0 + GELU" or "seq 4096". */
  label: string;
  backend: string;
  /** Tokens along the sequence (flattened tokens for linear attention; GEMM rows for gemm). */
  tokens: number;
  /** The op's sizes, as passed to it. */
  params: Record<string, number | string | boolean>;
  /** FLOPs of one run, by the formulas of src/bench/flops.ts. */
  flops: number;
  /** flops / median time. */
  gflops: number;
  timing: Timing;
  /** Remark on the timing, when it includes more than the op (e.g. a GPU readback). */
  note?: string;
}

/** One timed forward of a whole model on one backend. */
export interface ForwardRecord {
  variant: string;
  backend: string;
  batch: number;
  tokens: number;
  /** The model options (omninet-pytorch's names in camelCase). */
  model: Record<string, number | string>;
  flops: number;
  /** FLOPs by op, summing to `flops`. */
  flopsByOp: Record<string, number>;
  gflops: number;
  /** Ops of one forward by the backend that ran them (a GPU hands ops without a kernel to the CPU). */
  opsByBackend: Record<string, number>;
  timing: Timing;
}

/** A case that did not run on a backend, and why. */
export interface SkipRecord {
  kind: 'op' | 'forward';
  label: string;
  backend: string;
  reason: string;
}

/** Everything one benchmark run produced: the JSON that `omninet bench --json` writes. */
export interface BenchResult {
  schema: typeof RESULT_SCHEMA;
  /** ISO 8601 start time. */
  startedAt: string;
  durationSeconds: number;
  /** The command line, when the CLI ran the suite. */
  command: string | null;
  omninetVersion: string | null;
  machine: MachineInfo;
  backends: BackendInfo[];
  settings: {
    quick: boolean;
    /** The js backend runs only cases up to this many tokens: it is the float64 oracle, not a fast path. */
    jsMaxTokens: number;
    /** A software WebGPU adapter runs only cases up to this many tokens. */
    softwareGpuMaxTokens: number;
    warmupSeconds: number;
    minRepetitions: number;
    minSeconds: number;
    slowRunSeconds: number;
    verySlowRunSeconds: number;
  };
  ops: OpRecord[];
  forwards: ForwardRecord[];
  skipped: SkipRecord[];
}
