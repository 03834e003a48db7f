// A small SVG line-chart writer for loss curves (no dependency): several series over a shared
// x axis, linear axes with round tick values, and a legend.

export interface Series {
  name: string;
  points: [number, number][]; // (step, value)
  color: string;
}

const W = 640,
  H = 400,
  M = { left: 60, right: 20, top: 30, bottom: 45 };

function ticks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step = Math.pow(10, Math.floor(Math.log10(span / n)));
  const nice = [1, 2, 5, 10].map((m) => m * step).find((s) => span / s <= n) ?? 10 * step;
  const out: number[] = [];
  for (let t = Math.ceil(lo / nice) * nice; t <= hi + 1e-12; t += nice)
    out.push(Number(t.toPrecision(12)));
  return out;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

export function lineChartSvg(
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
): string {
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  const xs = all.map(([x]) => x),
    ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs, 0), Math.max(...xs, 1)];
  const [y0, y1] = [Math.min(...ys, 0), Math.max(...ys, 1e-9)];
  const px = (x: number) => M.left + ((x - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" ` +
      `font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
    `<text x="${W / 2}" y="${H - 8}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(14 ${H / 2}) rotate(-90)" ` +
      `text-anchor="middle">${esc(yLabel)}</text>`,
  ];
  for (const t of ticks(x0, x1)) {
    parts.push(
      `<line x1="${px(t)}" x2="${px(t)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`,
    );
    parts.push(`<text x="${px(t)}" y="${H - M.bottom + 15}" text-anchor="middle">${t}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    parts.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${py(t)}" y2="${py(t)}" stroke="#eee"/>`,
    );
    parts.push(`<text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${W - M.left - M.right}" ` +
      `height="${H - M.top - M.bottom}" fill="none" stroke="#888"/>`,
  );
  series.forEach((s, i) => {
    const path = s.points
      .filter(([, y]) => Number.isFinite(y))
      .map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`)
      .join(' ');
    parts.push(`<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    const ly = M.top + 14 + i * 16;
    parts.push(
      `<line x1="${W - M.right - 110}" x2="${W - M.right - 90}" y1="${ly - 4}" y2="${ly - 4}" ` +
        `stroke="${s.color}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${W - M.right - 85}" y="${ly}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
