// A dependency-free SVG bar chart for the bench results: one or more panels, each a list of groups
// (a case, a sequence length) with one horizontal bar per series (an implementation). Values that
// span decades (0.05 ms matmuls next to 8 s train steps) use a log axis; every bar carries its
// number, so the chart never has to be read off the axis. Read next: benchmark.ts.

export interface Bar {
  series: string;
  value: number | null; // null: not run (drawn as a note, not a bar)
  text?: string; // printed after the bar; defaults to the value
}
export interface Group {
  label: string;
  bars: Bar[];
}
export interface Panel {
  title: string;
  unit: string;
  groups: Group[];
  log?: boolean;
}

const PALETTE = [
  '#1f77b4',
  '#aec7e8',
  '#2ca02c',
  '#98df8a',
  '#ff7f0e',
  '#d62728',
  '#9467bd',
  '#8c564b',
];
const [WIDTH, LABEL_W, VALUE_W, BAR_H, GAP, GROUP_GAP, PANEL_GAP] = [980, 300, 90, 11, 2, 9, 46];

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (v: number) =>
  v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2);

/** Render panels stacked vertically, with one legend for all series. */
export function barChartSvg(title: string, panels: Panel[], note = ''): string {
  const series = [
    ...new Set(panels.flatMap((p) => p.groups.flatMap((g) => g.bars.map((b) => b.series)))),
  ];
  const color = new Map(series.map((s, i) => [s, PALETTE[i % PALETTE.length]]));
  const out: string[] = [];
  let y = 28;
  out.push(`<text x="10" y="${y}" font-size="16" font-weight="bold">${esc(title)}</text>`);
  y += 20;
  if (note) {
    out.push(`<text x="10" y="${y}" font-size="11" fill="#555">${esc(note)}</text>`);
    y += 16;
  }
  // legend
  let x = 10;
  for (const s of series) {
    out.push(
      `<rect x="${x}" y="${y - 9}" width="10" height="10" fill="${color.get(s)}"/><text x="${x + 14}" y="${y}" font-size="11">${esc(s)}</text>`,
    );
    x += 24 + 6.5 * s.length;
  }
  y += 14;

  const plotX = LABEL_W,
    plotW = WIDTH - LABEL_W - VALUE_W;
  for (const panel of panels) {
    y += PANEL_GAP - 14;
    out.push(
      `<text x="10" y="${y}" font-size="13" font-weight="bold">${esc(panel.title)} (${esc(panel.unit)}${panel.log ? ', log scale' : ''})</text>`,
    );
    y += 10;
    const values = panel.groups
      .flatMap((g) => g.bars.map((b) => b.value))
      .filter((v): v is number => v !== null && v > 0);
    if (values.length === 0) continue;
    const lo = panel.log ? 10 ** Math.floor(Math.log10(Math.min(...values))) : 0;
    const hi = panel.log
      ? 10 ** Math.ceil(Math.log10(Math.max(...values)))
      : Math.max(...values) * 1.05;
    const scale = (v: number) =>
      (panel.log ? (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : v / hi) *
      plotW;
    const top = y;
    for (const g of panel.groups) {
      const h = g.bars.length * (BAR_H + GAP);
      out.push(
        `<text x="${LABEL_W - 8}" y="${y + h / 2 + 4}" font-size="11" text-anchor="end">${esc(g.label)}</text>`,
      );
      for (const b of g.bars) {
        if (b.value === null || b.value <= 0) {
          out.push(
            `<text x="${plotX + 4}" y="${y + BAR_H - 2}" font-size="9" fill="#888">${esc(b.series)}: ${esc(b.text ?? 'not run')}</text>`,
          );
        } else {
          const w = Math.max(1, scale(b.value));
          out.push(
            `<rect x="${plotX}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${color.get(b.series)}"><title>${esc(`${g.label} — ${b.series}: ${num(b.value)} ${panel.unit}`)}</title></rect>`,
          );
          out.push(
            `<text x="${(plotX + w + 4).toFixed(1)}" y="${y + BAR_H - 2}" font-size="9">${esc(b.text ?? num(b.value))}</text>`,
          );
        }
        y += BAR_H + GAP;
      }
      y += GROUP_GAP;
    }
    // axis: decades on a log scale, five steps on a linear one
    const ticks = panel.log
      ? Array.from({ length: Math.round(Math.log10(hi / lo)) + 1 }, (_, i) => lo * 10 ** i)
      : Array.from({ length: 6 }, (_, i) => (hi * i) / 5);
    for (const t of ticks) {
      const tx = (plotX + scale(Math.max(t, panel.log ? lo : 0))).toFixed(1);
      out.push(
        `<line x1="${tx}" y1="${top - 4}" x2="${tx}" y2="${y - GROUP_GAP}" stroke="#ddd" stroke-width="1"/>`,
      );
      out.push(
        `<text x="${tx}" y="${y + 4}" font-size="9" text-anchor="middle" fill="#555">${num(t)}</text>`,
      );
    }
    y += 14;
  }
  const height = Math.ceil(y + 10);
  // grid lines first so bars draw over them
  const body = [
    ...out.filter((s) => s.startsWith('<line')),
    ...out.filter((s) => !s.startsWith('<line')),
  ];
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
