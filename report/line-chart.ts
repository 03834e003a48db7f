// A small SVG line-chart writer (no dependency): several series over a shared x axis, linear or
// log axes with round tick values, solid or dashed lines, and a legend. Draws the training loss
// (cli/train.ts), the memory bench (bench/memory.ts) and the experiments' plots
// (experiments/runner.ts). Read next: progress.ts.

export interface Series {
  name: string;
  points: [number, number][]; // (x, y), e.g. (step, loss)
  color: string;
  dash?: string; // an SVG stroke-dasharray, e.g. '5 4': the article's figures beside our curve
}

/** Log axes put powers of ten on the ticks; points ≤ 0 cannot be drawn there and are dropped. */
export interface Axes {
  logX?: boolean;
  logY?: boolean;
}

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

// the legend sits in the right margin, so it never hides a line
const W = 820,
  H = 400,
  M = { left: 60, right: 200, top: 30, bottom: 45 };

function ticks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step = Math.pow(10, Math.floor(Math.log10(span / n)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= n) ?? 10 * step;
  const out: number[] = [];
  for (let t = Math.ceil(lo / nice) * nice; t <= hi + 1e-12; t += nice)
    out.push(Number(t.toPrecision(12)));
  return out;
}

/**
 * One axis: the domain (in log10 units on a log axis), where to tick, and how to label a tick.
 * A linear axis always shows 0; a log axis spans whole decades.
 */
function axis(values: number[], log: boolean, linearFloor: number) {
  if (!log) {
    const [lo, hi] = [Math.min(...values, 0), Math.max(...values, linearFloor)];
    return { lo, hi, at: (v: number) => v, ticks: ticks(lo, hi), label: (t: number) => `${t}` };
  }
  const logs = values.length > 0 ? values.map(Math.log10) : [0];
  const lo = Math.floor(Math.min(...logs));
  const hi = Math.max(Math.ceil(Math.max(...logs)), lo + 1);
  const decades = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
  return { lo, hi, at: Math.log10, ticks: decades, label: (t: number) => String(Number(`1e${t}`)) };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function lineChartSvg(
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  axes: Axes = {},
): string {
  const drawable = ([x, y]: [number, number]) =>
    Number.isFinite(x) && Number.isFinite(y) && (!axes.logX || x > 0) && (!axes.logY || y > 0);
  const all = series.flatMap((s) => s.points).filter(drawable);
  const xAxis = axis(
    all.map(([x]) => x),
    axes.logX ?? false,
    1,
  );
  const yAxis = axis(
    all.map(([, y]) => y),
    axes.logY ?? false,
    1e-9,
  );
  const px = (x: number) =>
    M.left + ((xAxis.at(x) - xAxis.lo) / (xAxis.hi - xAxis.lo || 1)) * (W - M.left - M.right);
  const py = (y: number) =>
    H - M.bottom - ((yAxis.at(y) - yAxis.lo) / (yAxis.hi - yAxis.lo || 1)) * (H - M.top - M.bottom);
  // ticks are in axis units (log10 on a log axis): place them without the transform
  const tx = (t: number) => px(axes.logX ? 10 ** t : t);
  const ty = (t: number) => py(axes.logY ? 10 ** t : t);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" ` +
      `font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(14 ${H / 2}) rotate(-90)" ` +
      `text-anchor="middle">${esc(yLabel)}</text>`,
  ];
  for (const t of xAxis.ticks) {
    parts.push(
      `<line x1="${tx(t)}" x2="${tx(t)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`,
    );
    parts.push(
      `<text x="${tx(t)}" y="${H - M.bottom + 15}" text-anchor="middle">${xAxis.label(t)}</text>`,
    );
  }
  for (const t of yAxis.ticks) {
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${ty(t)}" y2="${ty(t)}" stroke="#eee"/>`,
    );
    parts.push(
      `<text x="${M.left - 6}" y="${ty(t) + 4}" text-anchor="end">${yAxis.label(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" ` +
      `height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`,
  );
  series.forEach((s, i) => {
    const path = s.points
      .filter(drawable)
      .map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join(' ');
    const dash = s.dash ? ` stroke-dasharray="${s.dash}"` : '';
    parts.push(
      `<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="1.5"${dash}/>`,
    );
    const ly = M.top + 14 + i * 16;
    parts.push(
      `<line x1="${W - M.right + 10}" x2="${W - M.right + 30}" y1="${ly - 4}" y2="${ly - 4}" ` +
        `stroke="${s.color}" stroke-width="2"${dash}/>`,
    );
    parts.push(`<text x="${W - M.right + 35}" y="${ly}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
