/**
 * inferctl status [--json] [--project P]
 *
 * Models and versions, node pools, Triton Deployments, HPAs, NetworkPolicies, the decision
 * timeline and the savings of the downtime windows in force. Reads only.
 */
import { loadConfig } from '../shared/runtime/config';
import { type CommandSpec, EXIT_OK, type OptionSpec, parseCommandLine } from './args';
import { fail, PROJECT_OPTION } from './common';
import type { CliIo } from './io';
import { resolveTarget } from './sandbox-env';
import type { StatusReport } from './status-data';

const SPEC = {
  command: 'inferctl status',
  description: `Shows the models and their versions, node pools, Triton Deployments, HPAs, NetworkPolicies, the
recent decisions of the control plane and what the downtime windows in force have saved. Changes
nothing. Finds a running sandbox by itself; --project aims at Google Cloud.`,
  options: {
    json: {
      type: 'boolean',
      description:
        'print JSON only: {models, nodePools, deployments, hpas, networkPolicies, decisions, savings}',
    },
    project: PROJECT_OPTION,
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

export function describeStatus(r: StatusReport): string {
  const lines: string[] = [];
  lines.push('Models:');
  if (r.models.length === 0) lines.push('  none yet (upload one: inferctl upload model.onnx --model NAME)');
  for (const m of r.models) {
    lines.push(
      `  ${m.name}  ${m.versions.map((v) => `v${v.version} ${v.state}`).join(', ') || 'no version'}`,
    );
  }
  lines.push('Node pools:');
  if (r.nodePools.length === 0) lines.push('  none');
  for (const p of r.nodePools) {
    const a = p.autoscaling?.enabled
      ? `autoscaling ${p.autoscaling.totalMinNodeCount ?? p.autoscaling.minNodeCount ?? 0}-${p.autoscaling.totalMaxNodeCount ?? p.autoscaling.maxNodeCount ?? 0}`
      : 'fixed size';
    lines.push(`  ${p.name}  ${p.nodeCount ?? '?'} node(s)  ${a}`);
  }
  lines.push('Deployments:');
  if (r.deployments.length === 0) lines.push('  none');
  for (const d of r.deployments) lines.push(`  ${d.namespace}/${d.name}  ${d.replicas} replica(s)`);
  lines.push('HPAs:');
  if (r.hpas.length === 0) lines.push('  none');
  for (const h of r.hpas) lines.push(`  ${h.namespace}/${h.name}  ${h.minReplicas}-${h.maxReplicas}`);
  lines.push('Network policies:');
  if (r.networkPolicies.length === 0) lines.push('  none');
  for (const n of r.networkPolicies) lines.push(`  ${n.namespace}/${n.name}`);
  lines.push('Recent decisions (newest first):');
  if (r.decisions.length === 0) lines.push('  none yet');
  for (const d of r.decisions.slice(0, 10)) {
    lines.push(`  ${d.time}  ${d.function}  ${d.target}  ${d.action}: ${d.reason}`);
  }
  lines.push(`Saved by downtime in force: ${r.savings.gpuHours} GPU-hours, $${r.savings.dollars.toFixed(2)}`);
  return `${lines.join('\n')}\n`;
}

export async function statusCommand(args: string[], io: CliIo, env = process.env): Promise<number> {
  const parsed = parseCommandLine(SPEC, args, io);
  if (typeof parsed === 'number') return parsed;
  const { json, project } = parsed.values;
  let report: StatusReport;
  try {
    const target = resolveTarget(env, { project });
    // The cloud clients load only once there is something to ask.
    const { assembleStatus, openStatusSource } = await import('./status-data');
    const source = await openStatusSource(loadConfig(target.env));
    try {
      report = assembleStatus(await source.observe(), Date.now());
    } finally {
      await source.close().catch(() => undefined);
    }
  } catch (err) {
    return fail(io, SPEC.command, json, err);
  }
  io.stdout.write(json ? `${JSON.stringify(report, null, 2)}\n` : describeStatus(report));
  return EXIT_OK;
}
