/**
 * bench/bidder's chart: latency (p50, p99, p99.9) against offered load for
 * each server, as a vega-lite spec rendered to SVG by the vega and vega-lite
 * npm packages (no browser: vega's headless View with renderer 'none').
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';

/** One point: a server's latency percentile at an offered rate. */
export interface LatencyPoint {
  server: string;
  offered: number;
  percentile: 'p50' | 'p99' | 'p99.9';
  us: number;
}

/** The vega-lite spec (log-log; the 1 ms SLA as a rule). */
export function latencySpec(points: LatencyPoint[], title: string): vl.TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 560,
    height: 320,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'offered', type: 'quantitative', scale: { type: 'log' }, title: 'offered load (requests/s)' },
          y: { field: 'us', type: 'quantitative', scale: { type: 'log' }, title: 'latency (µs)' },
          color: { field: 'server', type: 'nominal', title: 'server' },
          strokeDash: { field: 'percentile', type: 'nominal', sort: ['p50', 'p99', 'p99.9'], title: 'percentile' },
          detail: [{ field: 'server' }, { field: 'percentile' }],
        },
      },
      {
        data: { values: [{ us: 1000 }] },
        mark: { type: 'rule', color: 'gray', strokeDash: [2, 2] },
        encoding: { y: { field: 'us', type: 'quantitative' } },
      },
    ],
  } as vl.TopLevelSpec;
}

/** Renders the chart to SVG text. */
export async function latencySvg(points: LatencyPoint[], title: string): Promise<string> {
  const spec = vl.compile(latencySpec(points, title)).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
