// A small SVG heatmap-grid writer (no dependency): panels of labelled cells in rows, one shared
// color scale with its legend, masked cells hatched so that "masked" never reads as "weight 0".
// Draws the attention maps of `attngrad viz` (cli/viz.ts). Compact on purpose: cells of one color
// are one <path> per panel, colors are 32 steps of one ramp, so a grid of two dozen 8×8 maps is
// under 70 kB. Read next: line-chart.ts.

export interface Heatmap {
  title: string;
  rows: string[]; // row labels, top to bottom (attention: the queries)
  cols: string[]; // column labels, left to right (attention: the keys)
  values: ArrayLike<number>; // rows × cols, row-major
  masked?: ArrayLike<number>; // the same layout: nonzero = masked, drawn hatched
  max?: number; // this panel's own darkest value, instead of the grid's
}

export interface GridOptions {
  notes?: string[]; // lines under the title
  max?: number; // the value of the darkest color [default: the largest value drawn, at least 1e-9]
  maxLabel?: string; // the legend's word for it [default: the number]
  maskedLabel?: string; // the legend's word for a hatched cell
}

// ColorBrewer 'Blues': light (0) to dark (max), sampled into LEVELS steps
const RAMP = [
  '#f7fbff',
  '#deebf7',
  '#c6dbef',
  '#9ecae1',
  '#6baed6',
  '#4292c6',
  '#2171b5',
  '#08519c',
];
const LEVELS = 32;
const CHAR = 5.6; // the width of one monospace label character at LABEL px
const LABEL = 9;
const TITLE = 10;
const GAP = 18;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const hex = (n: number) => Math.round(n).toString(16).padStart(2, '0');

/** The ramp's color at u ∈ [0, 1], linear between its stops. */
function rampColor(u: number): string {
  const x = Math.min(Math.max(u, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(x), RAMP.length - 2);
  const [a, b] = [RAMP[i], RAMP[i + 1]].map((c) =>
    [1, 3, 5].map((k) => parseInt(c.slice(k, k + 2), 16)),
  );
  const f = x - i;
  return `#${a.map((v, k) => hex(v + f * (b[k] - v))).join('')}`;
}

const PALETTE = Array.from({ length: LEVELS }, (_, i) => rampColor(i / (LEVELS - 1)));

function check(panel: Heatmap): void {
  const want = panel.rows.length * panel.cols.length;
  for (const [name, data] of [
    ['values', panel.values],
    ['masked', panel.masked],
  ] as const) {
    if (data && data.length !== want) {
      throw new Error(
        `heatmapGridSvg: panel '${panel.title}' ${name} has ${data.length} entries, expected ` +
          `${panel.rows.length} × ${panel.cols.length} = ${want}`,
      );
    }
  }
  const bad = Array.from(panel.values).findIndex((v) => !Number.isFinite(v));
  if (bad >= 0)
    throw new Error(`heatmapGridSvg: panel '${panel.title}' has ${panel.values[bad]} at ${bad}`);
}

/** One panel with its top left at (0, 0): title, column labels, row labels, cells. */
function panelSvg(p: Heatmap, cell: number, max: number, layout: PanelLayout): string {
  const { rowLabelW, colLabelH } = layout;
  const top = p.max ?? max;
  const [x0, y0] = [rowLabelW, TITLE + 4 + colLabelH];
  const out = [`<text y="${TITLE}" font-size="${TITLE}">${esc(p.title)}</text>`];
  p.cols.forEach((label, j) => {
    const x = x0 + (j + 0.5) * cell;
    out.push(
      layout.vertical
        ? `<text transform="translate(${x + 3} ${y0 - 3}) rotate(-90)">${esc(label)}</text>`
        : `<text x="${x}" y="${y0 - 3}" text-anchor="middle">${esc(label)}</text>`,
    );
  });
  p.rows.forEach((label, i) => {
    const y = y0 + (i + 0.5) * cell + 3;
    out.push(`<text x="${x0 - 3}" y="${y}" text-anchor="end">${esc(label)}</text>`);
  });
  // one path per color: "M x y h c v c h -c z" per cell
  const paths = new Map<string, string[]>();
  const square = (i: number, j: number) =>
    `M${x0 + j * cell} ${y0 + i * cell}h${cell}v${cell}h-${cell}z`;
  for (let i = 0; i < p.rows.length; i++) {
    for (let j = 0; j < p.cols.length; j++) {
      const k = i * p.cols.length + j;
      const fill = p.masked?.[k]
        ? 'url(#masked)'
        : PALETTE[Math.round(Math.min(Math.max(p.values[k] / top, 0), 1) * (LEVELS - 1))];
      if (!paths.has(fill)) paths.set(fill, []);
      paths.get(fill)!.push(square(i, j));
    }
  }
  for (const [fill, d] of paths) out.push(`<path fill="${fill}" d="${d.join('')}"/>`);
  const [w, h] = [p.cols.length * cell, p.rows.length * cell];
  out.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#888"/>`);
  return out.join('');
}

interface PanelLayout {
  rowLabelW: number;
  colLabelH: number;
  vertical: boolean; // column labels longer than one character are written upwards
}

/**
 * The grid as one SVG: `grid[r]` is one row of panels (e.g. the heads of one layer). Every panel
 * shares the color scale 0 … max, shown in the legend with the hatch of a masked cell.
 */
export function heatmapGridSvg(
  title: string,
  grid: Heatmap[][],
  options: GridOptions = {},
): string {
  const panels = grid.flat();
  if (panels.length === 0) throw new Error('heatmapGridSvg: expected at least one panel, got 0');
  panels.forEach(check);
  const longest = (labels: string[]) => Math.max(1, ...labels.map((l) => [...l].length));
  const maxCols = longest(panels.flatMap((p) => p.cols));
  const layout: PanelLayout = {
    rowLabelW: Math.ceil(longest(panels.flatMap((p) => p.rows)) * CHAR + 6),
    colLabelH: Math.ceil(maxCols > 1 ? maxCols * CHAR + 4 : LABEL + 3),
    vertical: maxCols > 1,
  };
  const span = Math.max(...panels.flatMap((p) => [p.rows.length, p.cols.length]));
  const cell = Math.min(16, Math.max(5, Math.floor(200 / span)));
  const max = options.max ?? Math.max(1e-9, ...panels.flatMap((p) => Array.from(p.values)));
  const slotW = Math.ceil(
    Math.max(
      ...panels.map((p) => layout.rowLabelW + p.cols.length * cell),
      ...panels.map((p) => [...p.title].length * TITLE * 0.6),
    ) + GAP,
  );
  const slotH =
    Math.max(...panels.map((p) => p.rows.length * cell)) + TITLE + 4 + layout.colLabelH + GAP;
  const notes = options.notes ?? [];
  const top = 24 + 14 * notes.length + 30; // title, notes, legend
  const width = Math.ceil(Math.max(560, 12 + slotW * Math.max(...grid.map((r) => r.length))));
  const height = Math.ceil(top + slotH * grid.length);
  const legendX = 12;
  const legendY = 24 + 14 * notes.length + 8;
  const stops = RAMP.map((c, i) => `<stop offset="${i / (RAMP.length - 1)}" stop-color="${c}"/>`);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `font-family="monospace" font-size="${LABEL}">`,
    '<defs>' +
      '<pattern id="masked" width="4" height="4" patternUnits="userSpaceOnUse" ' +
      'patternTransform="rotate(45)"><rect width="4" height="4" fill="#e4e4e4"/>' +
      '<line x1="0" y1="0" x2="0" y2="4" stroke="#a0a0a0" stroke-width="1.5"/></pattern>' +
      `<linearGradient id="scale">${stops.join('')}</linearGradient></defs>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="12" y="17" font-family="sans-serif" font-size="13">${esc(title)}</text>`,
    ...notes.map(
      (n, i) =>
        `<text x="12" y="${34 + 14 * i}" font-family="sans-serif" font-size="10">${esc(n)}</text>`,
    ),
    `<text x="${legendX}" y="${legendY + 9}" font-size="10">0</text>`,
    `<rect x="${legendX + 12}" y="${legendY}" width="140" height="10" fill="url(#scale)" stroke="#888"/>`,
    `<text x="${legendX + 158}" y="${legendY + 9}" font-size="10">${esc(options.maxLabel ?? String(Number(max.toPrecision(3))))}</text>`,
    `<rect x="${legendX + 210}" y="${legendY}" width="14" height="10" fill="url(#masked)" stroke="#888"/>`,
    `<text x="${legendX + 230}" y="${legendY + 9}" font-size="10">${esc(options.maskedLabel ?? 'masked')}</text>`,
  ];
  grid.forEach((row, r) =>
    row.forEach((p, c) => {
      const [x, y] = [12 + c * slotW, top + r * slotH];
      parts.push(`<g transform="translate(${x} ${y})">${panelSvg(p, cell, max, layout)}</g>`);
    }),
  );
  parts.push('</svg>');
  return parts.join('\n');
}
