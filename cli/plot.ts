// The SVG line chart lives in report/line-chart.ts, shared with experiments/ and bench/; this
// re-export keeps cli/ importers as they are. Read next: ../report/line-chart.ts.

export { lineChartSvg, type Series } from '../report/line-chart.ts';
