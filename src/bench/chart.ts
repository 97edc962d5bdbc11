// Line charts as inline SVG with logarithmic axes, for the HTML report. No chart library: the
// report is one self-contained HTML file.

export interface ChartPoint {
  x: number;
  y: number;
  /** Spread shown as a vertical bar, e.g. min and max. */
  low?: number;
  high?: number;
  /** Tooltip text. */
  title?: string;
}

export interface ChartSeries {
  name: string;
  color: string;
  points: ChartPoint[];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Formats a y tick value (default: the number). */
  formatY?: (value: number) => string;
  width?: number;
  height?: number;
}

const MARGIN = { left: 70, right: 150, top: 30, bottom: 45 };

/** Returns an SVG line chart with log2 x and log10 y axes; series without points are left out. */
export function lineChart(options: ChartOptions): string {
  const width = options.width ?? 540;
  const height = options.height ?? 300;
  const series = options.series.filter((s) => s.points.some((p) => p.x > 0 && p.y > 0));
  const points = series.flatMap((s) => s.points.filter((p) => p.x > 0 && p.y > 0));
  if (points.length === 0) return '';

  const xs = points.map((p) => p.x);
  const ys = points.flatMap((p) => [p.y, p.low ?? p.y, p.high ?? p.y]).filter((y) => y > 0);
  const xMin = Math.log2(Math.min(...xs));
  const xMax = Math.max(Math.log2(Math.max(...xs)), xMin + 1);
  const yMin = Math.floor(Math.log10(Math.min(...ys)) * 4) / 4;
  const yMax = Math.max(Math.ceil(Math.log10(Math.max(...ys)) * 4) / 4, yMin + 0.5);

  const plotWidth = width - MARGIN.left - MARGIN.right;
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const px = (x: number): number => MARGIN.left + ((Math.log2(x) - xMin) / (xMax - xMin)) * plotWidth;
  const py = (y: number): number => MARGIN.top + plotHeight - ((Math.log10(y) - yMin) / (yMax - yMin)) * plotHeight;
  const formatY = options.formatY ?? ((v: number) => String(v));

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(options.title)}">`);
  parts.push(`<text x="${MARGIN.left}" y="18" class="chart-title">${escapeHtml(options.title)}</text>`);

  // Grid and ticks: powers of two on x, 1-2-5 steps on y.
  for (let e = Math.ceil(xMin); e <= Math.floor(xMax); e++) {
    const x = px(2 ** e);
    parts.push(`<line x1="${x.toFixed(1)}" y1="${MARGIN.top}" x2="${x.toFixed(1)}" y2="${MARGIN.top + plotHeight}" class="grid"/>`);
    parts.push(`<text x="${x.toFixed(1)}" y="${MARGIN.top + plotHeight + 16}" text-anchor="middle" class="tick">${2 ** e}</text>`);
  }
  for (const value of logTicks(10 ** yMin, 10 ** yMax)) {
    const y = py(value);
    parts.push(`<line x1="${MARGIN.left}" y1="${y.toFixed(1)}" x2="${MARGIN.left + plotWidth}" y2="${y.toFixed(1)}" class="grid"/>`);
    parts.push(`<text x="${MARGIN.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end" class="tick">${escapeHtml(formatY(value))}</text>`);
  }
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotWidth}" height="${plotHeight}" class="frame"/>`);
  parts.push(`<text x="${MARGIN.left + plotWidth / 2}" y="${height - 8}" text-anchor="middle" class="axis">${escapeHtml(options.xLabel)}</text>`);
  parts.push(`<text transform="translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)" text-anchor="middle" class="axis">${escapeHtml(options.yLabel)}</text>`);

  series.forEach((s, index) => {
    const visible = s.points.filter((p) => p.x > 0 && p.y > 0).sort((a, b) => a.x - b.x);
    const path = visible.map((p, i) => `${i ? 'L' : 'M'}${px(p.x).toFixed(1)} ${py(p.y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (const p of visible) {
      const x = px(p.x).toFixed(1);
      if (p.low !== undefined && p.high !== undefined && p.low > 0 && p.high > p.low) {
        parts.push(`<line x1="${x}" y1="${py(p.high).toFixed(1)}" x2="${x}" y2="${py(p.low).toFixed(1)}" stroke="${s.color}" stroke-width="1.5"/>`);
      }
      parts.push(`<circle cx="${x}" cy="${py(p.y).toFixed(1)}" r="3.5" fill="${s.color}"><title>${escapeHtml(p.title ?? `${s.name}: ${p.x}, ${p.y}`)}</title></circle>`);
    }
    const legendY = MARGIN.top + 10 + index * 18;
    const legendX = MARGIN.left + plotWidth + 12;
    parts.push(`<line x1="${legendX}" y1="${legendY}" x2="${legendX + 18}" y2="${legendY}" stroke="${s.color}" stroke-width="3"/>`);
    parts.push(`<text x="${legendX + 24}" y="${legendY + 4}" class="legend">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Returns the 1, 2 and 5 multiples of powers of ten within [low, high]. */
export function logTicks(low: number, high: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(low)); e <= Math.ceil(Math.log10(high)); e++) {
    for (const m of [1, 2, 5]) {
      const value = m * 10 ** e;
      if (value >= low * (1 - 1e-9) && value <= high * (1 + 1e-9)) ticks.push(Number(value.toPrecision(6)));
    }
  }
  return ticks;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
