import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BackendName } from '../backends/backend.js';
import { formatMs } from '../bench/report.js';
import type { BenchResult } from '../bench/result.js';
import { ALL_BACKENDS, runBenchmarks, type BenchProgress } from '../bench/suite.js';
import { OmninetError } from '../errors.js';
import { packageVersion, type ParsedArgs } from './main.js';

/** `omninet bench [--backend LIST] [--json FILE] [--ops] [--e2e] [--quick] [--tokens LIST]` */
export async function runBench({ positionals, values, flags }: ParsedArgs): Promise<void> {
  if (positionals.length > 0) {
    throw new OmninetError('INVALID_ARGUMENT', `bench takes no positional arguments, got ${positionals.join(' ')}`);
  }
  const backends = parseBackends(values.backend);
  const forwardTokens = values.tokens === undefined ? undefined : parseTokens(values.tokens);
  // Neither --ops nor --e2e means both.
  const both = !flags.has('ops') && !flags.has('e2e');

  const progress = process.stderr.isTTY ? new ProgressBar(process.stderr) : null;
  const result = await runBenchmarks({
    backends,
    ops: both || flags.has('ops'),
    forwards: both || flags.has('e2e'),
    quick: flags.has('quick'),
    plan: forwardTokens ? { forwardTokens } : undefined,
    command: ['omninet', ...process.argv.slice(2)].join(' '),
    omninetVersion: await packageVersion(),
    onProgress: (p) => progress?.update(p),
  });
  progress?.clear();

  const unavailable = result.backends.filter((b) => !b.available);
  for (const b of unavailable) console.error(`omninet bench: backend ${b.name} skipped: ${b.reason}`);
  if (unavailable.length === result.backends.length) {
    throw new OmninetError('BACKEND_UNAVAILABLE', 'none of the requested backends is available');
  }

  console.log(summarize(result));
  if (values.json) {
    await mkdir(dirname(values.json), { recursive: true });
    await writeFile(values.json, `${JSON.stringify(result, null, 1)}\n`);
    console.error(`wrote ${values.json} (render it with: npm run bench:report -- ${values.json})`);
  }
}

function parseBackends(list: string | undefined): BackendName[] | undefined {
  if (list === undefined || list === 'all') return undefined;
  const names = list.split(',').map((s) => s.trim());
  for (const name of names) {
    if (!(ALL_BACKENDS as readonly string[]).includes(name)) {
      throw new OmninetError('INVALID_ARGUMENT', `--backend ${name} is not one of ${ALL_BACKENDS.join(', ')} (or all); give a comma-separated list`);
    }
  }
  return names as BackendName[];
}

function parseTokens(list: string): number[] {
  return list.split(',').map((s) => {
    const value = Number(s);
    if (!Number.isInteger(value) || value < 1) {
      throw new OmninetError('INVALID_ARGUMENT', `--tokens ${list}: "${s}" is not a positive integer; give a comma-separated list such as 512,1024`);
    }
    return value;
  });
}

/** Returns the result as text tables: machine, backends, forwards, then ops. */
export function summarize(result: BenchResult): string {
  const m = result.machine;
  const lines = [
    `machine: ${m.cpu}, ${m.cores} cores, ${m.platform}, ${m.runtime}`,
    ...result.backends.filter((b) => b.available).map((b) => `backend: ${b.label}`),
  ];
  if (result.forwards.length > 0) {
    lines.push('', 'forward (batch 1)', row(['variant', 'backend', 'tokens', 'median', 'min', 'max', 'runs', 'GFLOP/s']));
    for (const f of result.forwards) {
      const t = f.timing;
      lines.push(row([f.variant, f.backend, String(f.tokens), formatMs(t.medianMs), formatMs(t.minMs), formatMs(t.maxMs), String(t.repetitions), f.gflops.toFixed(1)]));
    }
  }
  if (result.ops.length > 0) {
    lines.push('', 'ops (batch 1)', row(['op', 'case', 'backend', 'median', 'min', 'max', 'runs', 'GFLOP/s']));
    for (const o of result.ops) {
      const t = o.timing;
      lines.push(row([o.family, o.label, o.backend, formatMs(t.medianMs), formatMs(t.minMs), formatMs(t.maxMs), String(t.repetitions), o.gflops.toFixed(2)]));
    }
  }
  if (result.skipped.length > 0) lines.push('', `skipped: ${result.skipped.length} cases (see "skipped" in the JSON)`);
  return lines.join('\n');
}

const WIDTHS = [22, 34, 8, 10, 10, 10, 6, 9];

function row(cells: string[]): string {
  return cells.map((c, i) => (i < 2 ? c.padEnd(WIDTHS[i]) : c.padStart(WIDTHS[i]))).join(' ');
}

/** A one-line progress bar, redrawn in place on a terminal. */
class ProgressBar {
  constructor(private readonly stream: NodeJS.WriteStream) {}

  update({ done, total, label }: BenchProgress): void {
    const columns = this.stream.columns || 80;
    const barWidth = Math.max(10, Math.min(30, columns - 50));
    const filled = total === 0 ? barWidth : Math.round((done / total) * barWidth);
    const text = `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${done}/${total} ${label}`;
    this.stream.write(`\r${text.slice(0, columns - 1).padEnd(columns - 1)}`);
  }

  clear(): void {
    this.stream.write(`\r${' '.repeat((this.stream.columns || 80) - 1)}\r`);
  }
}
