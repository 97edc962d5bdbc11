// The benchmark suite: runs in Node, Deno and browsers (it imports node: modules only when it
// finds Node's `process`). `omninet bench` and bench/browser.html are its two front ends.
export { runBenchmarks, ALL_BACKENDS, type SuiteOptions, type BenchProgress } from './suite.js';
export { defaultPlan, README_MODEL, type BenchPlan, type BenchModel } from './plan.js';
export { DEFAULT_MEASURE, QUICK_MEASURE, measure, summarize, quantile, type MeasureOptions, type Timing } from './measure.js';
export * from './flops.js';
export { renderReport, formatMs } from './report.js';
export { describeMachine, describeBackend, type MachineInfo, type BackendInfo } from './environment.js';
export { RESULT_SCHEMA, type BenchResult, type OpRecord, type ForwardRecord, type SkipRecord } from './result.js';
