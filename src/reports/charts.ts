import { monthText } from './format.js';
import type { PeriodReport } from './period-types.js';
import type { Cell, Report } from './report-types.js';

/**
 * The html report's charts: Vega-Lite specs compiled to Vega and rendered to SVG strings in Node
 * (renderer "none": no DOM, no canvas, no network). The SVG is inlined, so the report opens
 * offline. Chart data holds only numbers and labels the report itself makes (months, bins, exit
 * codes) — never a sender's string — and vega escapes text it writes into SVG anyway.
 * vega is imported lazily: md, csv and json never pay for loading it.
 */
type Spec = Record<string, unknown>;

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 11, grid: true, gridColor: '#e5e7eb' },
  view: { stroke: null },
  background: 'white',
};

/**
 * Small multiples, one linear panel per metric (each with its own y scale, all from 0). A month
 * that has not ended is labelled "(partial)" on the x axis and drawn as a hollow point.
 */
function monthsSpec(
  points: { month: string; partial: boolean; values: Record<string, Cell> }[],
  metrics: readonly (readonly [string, string])[],
): Spec | null {
  const rows: { month: string; metric: string; value: number; partial: boolean }[] = [];
  for (const t of points) {
    for (const [key, label] of metrics) {
      const v = t.values[key];
      if (typeof v === 'number') rows.push({ month: monthText(t.month, t.partial), metric: label, value: v, partial: t.partial });
    }
  }
  if (rows.length === 0) return null;
  return {
    data: { values: rows },
    facet: {
      row: {
        field: 'metric',
        type: 'nominal',
        title: null,
        sort: metrics.map((m) => m[1]),
        header: { labelFontSize: 12, labelFontWeight: 'bold', labelAngle: 0, labelAlign: 'left', labelAnchor: 'start' },
      },
    },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 560,
      height: 110,
      layer: [
        { mark: { type: 'line', color: '#2563eb' } },
        {
          mark: { type: 'point', color: '#2563eb', size: 40 },
          encoding: { fill: { condition: { test: 'datum.partial', value: 'white' }, value: '#2563eb' } },
        },
      ],
      encoding: {
        x: {
          field: 'month',
          type: 'ordinal',
          title: null,
          sort: points.map((t) => monthText(t.month, t.partial)),
          axis: { labelAngle: -40 },
        },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: true }, axis: { format: ',~s' } },
      },
    },
    config: CONFIG,
  };
}

function trendSpec(r: Report): Spec | null {
  const points = r.trend.map((t) => ({ month: t.month, partial: r.incomplete_month && t.month === r.month, values: { ...t } }));
  return monthsSpec(points, [
    ['unique_users', 'Unique users'],
    ['runs_started', 'Runs started'],
    ['compute_hours', 'Compute hours'],
  ]);
}

function periodMonthsSpec(r: PeriodReport): Spec | null {
  const points = r.monthly.map((m) => ({ month: m.month, partial: m.partial, values: { ...m } as unknown as Record<string, Cell> }));
  return monthsSpec(points, [
    ['unique_users', 'Active users'],
    ['new_users', 'New users'],
    ['cumulative_users', 'Cumulative distinct users'],
    ['runs_started', 'Runs started'],
    ['compute_hours', 'Compute hours'],
  ]);
}

function histogramSpec(r: Pick<Report, 'run_length_histogram'>): Spec | null {
  if (r.run_length_histogram.every((h) => h.runs === 0)) return null;
  return {
    width: 560,
    height: 180,
    data: { values: r.run_length_histogram.map((h) => ({ bin: h.label, runs: h.runs })) },
    mark: { type: 'bar', color: '#0d9488' },
    encoding: {
      x: { field: 'bin', type: 'ordinal', title: 'Run length', sort: r.run_length_histogram.map((h) => h.label), axis: { labelAngle: 0 } },
      y: { field: 'runs', type: 'quantitative', title: 'Completed runs', axis: { format: ',~s' } },
    },
    config: CONFIG,
  };
}

/** Linear: a bar's length is its share of runs (a log scale made exit 137 at 1.7 % look like 37 % of exit 0). */
export function exitCodeSpec(r: Pick<Report, 'exit_codes'>): Spec | null {
  const rows = r.exit_codes.filter((e) => typeof e.runs === 'number').map((e) => ({ code: String(e.code), runs: e.runs as number }));
  if (rows.length === 0) return null;
  return {
    width: 560,
    height: Math.max(60, rows.length * 22),
    data: { values: rows },
    mark: { type: 'bar', color: '#7c3aed' },
    encoding: {
      y: { field: 'code', type: 'ordinal', title: 'Exit code', sort: rows.map((x) => x.code) },
      x: { field: 'runs', type: 'quantitative', title: 'Completed runs', scale: { zero: true }, axis: { format: ',~s', tickCount: 5 } },
    },
    config: CONFIG,
  };
}

export interface Charts {
  trend: string | null;
  histogram: string | null;
  exitCodes: string | null;
}

async function toSvg(spec: Spec | null): Promise<string | null> {
  if (spec === null) return null;
  const [vl, vega] = await Promise.all([import('vega-lite'), import('vega')]);
  const compiled = vl.compile(spec as never).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export async function renderCharts(r: Report): Promise<Charts> {
  return {
    trend: await toSvg(trendSpec(r)),
    histogram: await toSvg(histogramSpec(r)),
    exitCodes: await toSvg(exitCodeSpec(r)),
  };
}

export async function renderPeriodCharts(r: PeriodReport): Promise<Charts> {
  return {
    trend: await toSvg(periodMonthsSpec(r)),
    histogram: await toSvg(histogramSpec(r)),
    exitCodes: await toSvg(exitCodeSpec(r)),
  };
}
