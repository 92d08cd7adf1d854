/**
 * The sandbox's status page: one HTML document rendered on the server from the same report as
 * `inferctl status --json`, with a few lines of script that fetch the content again every few
 * seconds (`/?fragment=1`) and swap it in. No framework; the charts are inline SVG polylines.
 */
import type { StatusReport } from '../../cli/status-data';

export interface HistorySample {
  time: string;
  /** Node count per node pool, replicas per Deployment (`namespace/name`). */
  nodes: Record<string, number | null>;
  replicas: Record<string, number>;
}

const esc = (s: unknown): string =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

function table(headers: string[], rows: unknown[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  const head = headers.map((h) => `<th>${esc(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** One small chart per series: values over the samples, the last value written beside it. */
function charts(
  history: readonly HistorySample[],
  pick: (s: HistorySample) => Record<string, number | null>,
): string {
  const names = [...new Set(history.flatMap((s) => Object.keys(pick(s))))].sort();
  if (names.length === 0) return '<p class="empty">no samples yet</p>';
  const w = 320;
  const h = 48;
  return names
    .map((name) => {
      const values = history.map((s) => pick(s)[name] ?? 0);
      const max = Math.max(1, ...values);
      const step = values.length > 1 ? w / (values.length - 1) : 0;
      const points = values.map(
        (v, i) => `${(i * step).toFixed(1)},${(h - (v / max) * (h - 4) - 2).toFixed(1)}`,
      );
      const last = values[values.length - 1] ?? 0;
      return (
        `<div class="chart"><span class="series">${esc(name)}</span>` +
        `<svg width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(name)} over time">` +
        `<polyline fill="none" stroke="#2563eb" stroke-width="2" points="${points.join(' ')}"/></svg>` +
        `<span class="now">${esc(last)}</span></div>`
      );
    })
    .join('');
}

export function renderContent(r: StatusReport, history: readonly HistorySample[], updated: string): string {
  return [
    `<p class="updated">updated ${esc(updated)}</p>`,
    `<section id="savings"><h2>Saved by downtime</h2><p class="big"><span id="gpu-hours">${esc(r.savings.gpuHours)}</span> GPU-hours, <span id="dollars">$${esc(r.savings.dollars.toFixed(2))}</span></p></section>`,
    `<section id="models"><h2>Models</h2>${table(
      ['Model', 'Version', 'State'],
      r.models.flatMap((m) => m.versions.map((v) => [m.name, v.version, v.state])),
      'No model yet: upload one (inferctl upload model.onnx --model NAME).',
    )}</section>`,
    `<section id="pools"><h2>Node pools</h2>${table(
      ['Pool', 'Nodes', 'Autoscaling'],
      r.nodePools.map((p) => [
        p.name,
        p.nodeCount ?? '?',
        p.autoscaling?.enabled
          ? `${p.autoscaling.totalMinNodeCount ?? p.autoscaling.minNodeCount ?? 0}-${p.autoscaling.totalMaxNodeCount ?? p.autoscaling.maxNodeCount ?? 0}`
          : 'off',
      ]),
      'No node pool.',
    )}${charts(history, (s) => s.nodes)}</section>`,
    `<section id="deployments"><h2>Deployments</h2>${table(
      ['Namespace', 'Deployment', 'Replicas'],
      r.deployments.map((d) => [d.namespace, d.name, d.replicas]),
      'No Triton Deployment.',
    )}${charts(history, (s) => s.replicas)}</section>`,
    `<section id="hpas"><h2>HPAs</h2>${table(
      ['Namespace', 'HPA', 'Min', 'Max'],
      r.hpas.map((h) => [h.namespace, h.name, h.minReplicas, h.maxReplicas]),
      'No HPA.',
    )}</section>`,
    `<section id="network-policies"><h2>Network policies</h2>${table(
      ['Namespace', 'NetworkPolicy'],
      r.networkPolicies.map((n) => [n.namespace, n.name]),
      'No NetworkPolicy.',
    )}</section>`,
    `<section id="decisions"><h2>Decisions (newest first)</h2>${table(
      ['Time', 'Function', 'Target', 'Action', 'Reason'],
      r.decisions.map((d) => [d.time, d.function, d.target, d.action, d.reason]),
      'No decision yet.',
    )}</section>`,
  ].join('\n');
}

export function renderPage(content: string, refreshMs: number): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>inferplane sandbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#111;max-width:72rem}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;min-width:24rem}th,td{border-bottom:1px solid #ddd;padding:.25rem .6rem;text-align:left}
th{background:#f4f4f5}.empty,.updated{color:#666}.big{font-size:1.2rem}
.chart{display:flex;align-items:center;gap:.6rem;margin:.3rem 0}.series{width:18rem;overflow:hidden;text-overflow:ellipsis}
svg{background:#f8fafc;border:1px solid #e5e7eb}
</style></head>
<body><h1>inferplane sandbox</h1>
<div id="content">${content}</div>
<script>
setInterval(async () => {
  try {
    const res = await fetch('/?fragment=1', { cache: 'no-store' });
    if (res.ok) document.getElementById('content').innerHTML = await res.text();
  } catch {}
}, ${refreshMs});
</script>
</body></html>
`;
}
