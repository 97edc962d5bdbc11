import { escapeHtml, lineChart, type ChartSeries } from './chart.js';
import type { BenchResult, ForwardRecord, OpRecord } from './result.js';

const COLORS: Record<string, string> = { js: '#7f7f7f', wasm: '#1f77b4', webgpu: '#d62728' };
const EXTRA_COLORS = ['#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

/** Returns a self-contained HTML page with the result's tables and time-against-tokens charts. */
export function renderReport(result: BenchResult): string {
  const sections = [
    header(result),
    environment(result),
    forwardSection(result),
    opSection(result),
    skippedSection(result),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>omninet benchmark ${escapeHtml(result.startedAt)}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
.software { color: #b00; font-weight: bold; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg { background: #fff; border: 1px solid #eee; }
svg .grid { stroke: #eee; }
svg .frame { fill: none; stroke: #999; }
svg .tick, svg .legend { font-size: 11px; fill: #444; }
svg .axis { font-size: 12px; fill: #222; }
svg .chart-title { font-size: 13px; font-weight: bold; fill: #222; }
</style>
</head>
<body>
${sections.join('\n')}
</body>
</html>
`;
}

function header(result: BenchResult): string {
  const rows = [
    ['started', result.startedAt],
    ['duration', `${result.durationSeconds.toFixed(0)} s`],
    ['command', result.command ?? '(library call)'],
    ['omninet', result.omninetVersion ?? 'unknown'],
    ['mode', result.settings.quick ? 'quick' : 'full'],
    [
      'repetitions',
      `warm-up ${result.settings.warmupSeconds} s, then at least ${result.settings.minRepetitions} runs and ${result.settings.minSeconds} s; ` +
        `3 runs when one takes over ${result.settings.slowRunSeconds} s, 1 run over ${result.settings.verySlowRunSeconds} s`,
    ],
    ['js cap', `the js backend (float64 oracle) runs cases up to ${result.settings.jsMaxTokens} tokens`],
    ['software GPU cap', `a software WebGPU adapter runs cases up to ${result.settings.softwareGpuMaxTokens} tokens`],
  ];
  return `<h1>omninet benchmark</h1>\n${table(['', ''], rows, [true, true])}`;
}

function environment(result: BenchResult): string {
  const m = result.machine;
  const machine = table(['machine', ''], [
    ['CPU', m.cpu],
    ['cores', String(m.cores)],
    ['memory', m.memoryBytes === null ? 'unknown' : `${(m.memoryBytes / 2 ** 30).toFixed(1)} GiB`],
    ['platform', m.platform],
    ['runtime', m.runtime],
    ...(m.userAgent ? [['user agent', m.userAgent]] : []),
  ], [true, true]);

  const backends = result.backends.map((b) => {
    let details = b.reason ?? '';
    if (b.wasm) details = `build ${b.wasm.build}; simd ${yesNo(b.wasm.simd)}, relaxed-simd ${yesNo(b.wasm.relaxedSimd)}, threads ${yesNo(b.wasm.threads)}`;
    if (b.webgpu) {
      const w = b.webgpu;
      const kind = w.software ? '<span class="software">software adapter: its times do not measure GPU speed</span>; ' : '';
      details = `${kind}${escapeHtml(`vendor ${w.vendor}, architecture ${w.architecture}, device ${w.device}, ${w.description}`)}`;
      return [escapeHtml(b.label), b.available ? 'yes' : 'no', details];
    }
    return [escapeHtml(b.label), b.available ? 'yes' : 'no', escapeHtml(details)];
  });
  return `<h2>Environment</h2>\n${machine}\n${rawTable(['backend', 'available', 'details'], backends)}`;
}

function forwardSection(result: BenchResult): string {
  if (result.forwards.length === 0) return '';
  const variants = [...new Set(result.forwards.map((f) => f.variant))];
  const charts = variants.map((variant) =>
    lineChart({
      title: `forward, ${variant}`,
      xLabel: 'tokens (batch 1)',
      yLabel: 'median time',
      formatY: formatMs,
      series: seriesByBackend(result.forwards.filter((f) => f.variant === variant)),
    }),
  );
  const rows = result.forwards.map((f) => [
    f.variant,
    f.backend,
    String(f.tokens),
    formatMs(f.timing.medianMs),
    `${formatMs(f.timing.minMs)} – ${formatMs(f.timing.maxMs)}`,
    `${formatMs(f.timing.q1Ms)} – ${formatMs(f.timing.q3Ms)}`,
    String(f.timing.repetitions),
    f.gflops.toFixed(1),
  ]);
  return `<h2>End-to-end forward</h2>
<p>Model: ${escapeHtml(JSON.stringify(result.forwards[0].model))}, random weights (seed 1). Time of <code>model.forward</code>, including the upload of x and the download of y. Charts: median, bars over the interquartile range.</p>
<div class="charts">${charts.join('\n')}</div>
${table(['variant', 'backend', 'tokens', 'median', 'min – max', 'IQR', 'runs', 'GFLOP/s'], rows, [true, true])}`;
}

function opSection(result: BenchResult): string {
  if (result.ops.length === 0) return '';
  const gemm = result.ops.filter((o) => o.family === 'gemm');
  const families = [...new Set(result.ops.filter((o) => o.family !== 'gemm').map((o) => o.family))];
  const charts = families.map((family) =>
    lineChart({
      title: family,
      xLabel: tokenAxisLabel(family),
      yLabel: 'median time',
      formatY: formatMs,
      series: seriesByBackend(result.ops.filter((o) => o.family === family)),
    }),
  );
  const opRows = (records: OpRecord[]) =>
    records.map((o) => [
      o.family,
      o.label,
      o.backend,
      formatMs(o.timing.medianMs),
      `${formatMs(o.timing.minMs)} – ${formatMs(o.timing.maxMs)}`,
      String(o.timing.repetitions),
      o.gflops.toFixed(2),
    ]);
  const headers = ['op', 'case', 'backend', 'median', 'min – max', 'runs', 'GFLOP/s'];
  const notes = [...new Set(result.ops.map((o) => o.note).filter(Boolean))].map((n) => `<p>Note: ${escapeHtml(n!)} (GPU backends).</p>`);
  return `<h2>Ops</h2>
<p>Batch 1, the model's heads and head size. GFLOP/s from the exact FLOP counts of <code>src/bench/flops.ts</code>. Charts: median, bars over the interquartile range.</p>
${notes.join('\n')}
<h3>GEMM at the model's shapes (rows × inFeatures × outFeatures)</h3>
${table(headers, opRows(gemm), [true, true, true])}
<div class="charts">${charts.join('\n')}</div>
${table(headers, opRows(result.ops.filter((o) => o.family !== 'gemm')), [true, true, true])}`;
}

function skippedSection(result: BenchResult): string {
  if (result.skipped.length === 0) return '';
  // One row per (backend, reason), listing the cases: the js cap alone skips dozens.
  const groups = new Map<string, { backend: string; reason: string; labels: string[] }>();
  for (const s of result.skipped) {
    const key = `${s.backend}\n${s.reason}`;
    const group = groups.get(key) ?? { backend: s.backend, reason: s.reason, labels: [] };
    group.labels.push(s.label);
    groups.set(key, group);
  }
  const rows = [...groups.values()].map((g) => [g.backend, g.reason, g.labels.join(', ')]);
  return `<h2>Skipped</h2>\n${table(['backend', 'reason', 'cases'], rows, [true, true, true])}`;
}

function tokenAxisLabel(family: string): string {
  if (family.endsWith('attention')) return 'sequence length';
  if (family === 'layerNorm') return 'rows (tokens)';
  return 'flattened tokens';
}

/** Returns one series per backend: x = tokens, y = median time with a bar over the interquartile range. */
function seriesByBackend(records: (OpRecord | ForwardRecord)[]): ChartSeries[] {
  const backends = [...new Set(records.map((r) => r.backend))];
  return backends.map((backend, index) => ({
    name: backend,
    color: COLORS[backend] ?? EXTRA_COLORS[index % EXTRA_COLORS.length],
    points: records
      .filter((r) => r.backend === backend)
      .map((r) => ({
        x: r.tokens,
        y: r.timing.medianMs,
        low: r.timing.q1Ms,
        high: r.timing.q3Ms,
        title: `${backend}, ${r.tokens} tokens: median ${formatMs(r.timing.medianMs)} (min ${formatMs(r.timing.minMs)}, max ${formatMs(r.timing.maxMs)}), ${r.gflops.toFixed(1)} GFLOP/s`,
      })),
  }));
}

/** Formats milliseconds with a unit that keeps 2–3 significant digits. */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toPrecision(3)} s`;
  if (ms >= 1) return `${ms.toPrecision(3)} ms`;
  return `${(ms * 1000).toPrecision(3)} µs`;
}

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}

/** Renders a table of plain-text cells; `textColumns[i]` left-aligns column i. */
function table(headers: string[], rows: string[][], textColumns: boolean[] = []): string {
  return rawTable(
    headers.map(escapeHtml),
    rows.map((row) => row.map(escapeHtml)),
    textColumns,
  );
}

/** Renders a table whose cells are already HTML. */
function rawTable(headers: string[], rows: string[][], textColumns: boolean[] = [true, true, true]): string {
  const cell = (tag: string, content: string, i: number) => `<${tag}${textColumns[i] ? ' class="text"' : ''}>${content}</${tag}>`;
  const head = `<tr>${headers.map((h, i) => cell('th', h, i)).join('')}</tr>`;
  const body = rows.map((row) => `<tr>${row.map((c, i) => cell('td', c, i)).join('')}</tr>`).join('\n');
  return `<table>\n${head}\n${body}\n</table>`;
}
