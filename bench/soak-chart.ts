/**
 * bench/soak's chart: one small line chart per sampled series, stacked, each on
 * its own y scale (mbufs, bytes, counts and rates share no unit), as SVG from
 * vega-lite without a browser (vega's headless View renders to an SVG string).
 */
import { compile, type TopLevelSpec } from 'vega-lite';
import { parse, View } from 'vega';
import type { Series } from './soak-analysis.js';

export async function soakSvg(series: Series[], title: string): Promise<string> {
  const values: { t: number; series: string; value: number }[] = [];
  for (const s of series) {
    const label = `${s.name} (${s.unit})`;
    for (let i = 0; i < s.t.length; i++) values.push({ t: s.t[i]!, series: label, value: s.values[i]! });
  }
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    data: { values },
    facet: { row: { field: 'series', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left', labelLimit: 260 } } },
    spec: {
      width: 520,
      height: 60,
      mark: { type: 'line', strokeWidth: 1 },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 'seconds' },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}
