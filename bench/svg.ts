/**
 * Minimal SVG line and bar charts for docs/bench/*.svg (no chart package): fixed size, axes with
 * ticks, a legend, optional log-scale y axis.
 */

/** One line of a line chart. */
export interface Series {
  name: string;
  points: Array<[number, number]>;
  /** Dashed line (e.g. p50 beside a solid p99). */
  dashed?: boolean;
  color?: string;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf', '#7f7f7f'];
const W = 720;
const H = 400;
const M = { left: 70, right: 180, top: 40, bottom: 50 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) => (n >= 1000 ? `${Math.round(n / 100) / 10}k` : `${Math.round(n * 100) / 100}`);

function niceTicks(min: number, max: number, count = 6): number[] {
  const span = max - min || 1;
  const step0 = span / count;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + 1e-9; v += step)
    ticks.push(Math.round(v * 1e6) / 1e6);
  return ticks;
}

function frame(title: string, xLabel: string, yLabel: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - M.right / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${M.left + (W - M.left - M.right) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${M.top + (H - M.top - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

/** A line chart; logY draws the y axis in powers of ten. */
export function lineChart(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logY?: boolean;
  hLine?: { y: number; label: string };
}): string {
  const all = options.series.flatMap((s) => s.points);
  const body: string[] = [];
  if (all.length === 0)
    return frame(options.title, options.xLabel, options.yLabel, ['<text x="100" y="200">no data</text>']);
  const xMax = Math.max(...all.map((p) => p[0])) * 1.05;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (v: number) => M.left + (v / xMax) * pw;
  let y: (v: number) => number;
  let yTicks: number[];
  if (options.logY) {
    const lo = Math.floor(Math.log10(Math.max(0.01, Math.min(...all.map((p) => p[1]).filter((v) => v > 0)))));
    const hi = Math.ceil(Math.log10(Math.max(...all.map((p) => p[1]), options.hLine?.y ?? 0, 1)));
    y = (v: number) => M.top + ph - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo || 1)) * ph;
    yTicks = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
  } else {
    const yMax = Math.max(...all.map((p) => p[1]), options.hLine?.y ?? 0) * 1.1 || 1;
    y = (v: number) => M.top + ph - (v / yMax) * ph;
    yTicks = niceTicks(0, yMax);
  }
  body.push(
    `<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="black"/>`,
  );
  body.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="black"/>`);
  for (const t of niceTicks(0, xMax)) {
    body.push(`<line x1="${x(t)}" y1="${M.top + ph}" x2="${x(t)}" y2="${M.top + ph + 5}" stroke="black"/>`);
    body.push(`<text x="${x(t)}" y="${M.top + ph + 18}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of yTicks) {
    body.push(`<line x1="${M.left}" y1="${y(t)}" x2="${M.left + pw}" y2="${y(t)}" stroke="#e5e5e5"/>`);
    body.push(`<text x="${M.left - 6}" y="${y(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  if (options.hLine) {
    const hy = y(options.hLine.y);
    body.push(
      `<line x1="${M.left}" y1="${hy}" x2="${M.left + pw}" y2="${hy}" stroke="#999" stroke-dasharray="2 4"/>`,
    );
    body.push(`<text x="${M.left + 4}" y="${hy - 4}" fill="#666">${esc(options.hLine.label)}</text>`);
  }
  options.series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length]!;
    const d = s.points.map((p, j) => `${j ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
    body.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    for (const p of s.points)
      body.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = M.top + 10 + i * 18;
    body.push(
      `<line x1="${W - M.right + 12}" y1="${ly}" x2="${W - M.right + 36}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    body.push(`<text x="${W - M.right + 42}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  return frame(options.title, options.xLabel, options.yLabel, body);
}

/** A grouped bar chart: one group per category, one bar per series. */
export function barChart(options: {
  title: string;
  xLabel: string;
  yLabel: string;
  categories: string[];
  series: Array<{ name: string; values: number[] }>;
}): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const yMax = Math.max(1e-9, ...options.series.flatMap((s) => s.values)) * 1.1;
  const y = (v: number) => M.top + ph - (v / yMax) * ph;
  const body: string[] = [];
  body.push(
    `<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="black"/>`,
  );
  for (const t of niceTicks(0, yMax)) {
    body.push(`<line x1="${M.left}" y1="${y(t)}" x2="${M.left + pw}" y2="${y(t)}" stroke="#e5e5e5"/>`);
    body.push(`<text x="${M.left - 6}" y="${y(t) + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  const groupW = pw / Math.max(1, options.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, options.series.length);
  options.categories.forEach((c, ci) => {
    const gx = M.left + ci * groupW + groupW * 0.1;
    body.push(`<text x="${gx + groupW * 0.4}" y="${M.top + ph + 18}" text-anchor="middle">${esc(c)}</text>`);
    options.series.forEach((s, si) => {
      const v = s.values[ci] ?? 0;
      body.push(
        `<rect x="${(gx + si * barW).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(M.top + ph - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"/>`,
      );
      body.push(
        `<text x="${(gx + si * barW + barW / 2).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${fmt(v)}</text>`,
      );
    });
  });
  options.series.forEach((s, i) => {
    const ly = M.top + 10 + i * 18;
    body.push(
      `<rect x="${W - M.right + 12}" y="${ly - 6}" width="14" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
    );
    body.push(`<text x="${W - M.right + 32}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  return frame(options.title, options.xLabel, options.yLabel, body);
}
