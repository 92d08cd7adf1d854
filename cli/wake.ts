/**
 * inferctl wake <target> --for <duration> | --until <ISO>
 *
 * Lifts a target's scheduled downtime until a time: writes the annotation
 * `inferplane.dev/wake-until` on the pool's Triton Deployment (server-side apply, field manager
 * `inferctl`). The next applySchedules tick restores the target, and leaves it up until then.
 */
import { connectCluster } from '../shared/adapters/cluster';
import { clusterTargetOf } from '../shared/deploy/deps';
import type { KubernetesObject } from '../shared/domain/plan';
import type { KubeObjects } from '../shared/ports/kubernetes';
import { type Env, loadConfig } from '../shared/runtime/config';
import { ANNOTATIONS } from '../shared/schedules/decide';
import {
  type CommandSpec,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  type OptionSpec,
  parseCommandLine,
} from './args';
import type { CliIo } from './io';

/** `2h`, `90m`, `1h30m`, `1d`: milliseconds. */
export function parseDuration(raw: string): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/.exec(raw.trim());
  const [d, h, min] = [m?.[1], m?.[2], m?.[3]].map((x) => Number(x ?? 0)) as [number, number, number];
  const ms = ((d * 24 + h) * 60 + min) * 60_000;
  if (!m || raw.trim() === '' || ms <= 0)
    throw new Error(`"${raw}" is not a duration such as 2h, 90m or 1h30m`);
  return ms;
}

function instant(raw: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}T/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms)) throw new Error(`"${raw}" is not an RFC 3339 time such as 2026-12-08T09:00:00Z`);
  return ms;
}

const SPEC = {
  command: 'inferctl wake',
  operands: '<target>',
  positionals: {
    min: 1,
    max: 1,
    missing: 'give the target (its pool name, e.g. triton-l4)',
    tooMany: 'give one target',
  },
  description: `Lifts the scheduled downtime of a target (a pool: its Triton Deployment, HPA and GPU node pool)
for a while, by writing the ${ANNOTATIONS.wakeUntil} annotation on its Deployment. The next
applySchedules tick restores it. Reads its configuration from the INFERPLANE_* environment variables.`,
  options: {
    for: {
      type: 'string',
      value: 'DURATION',
      expects: 'a duration',
      parse: parseDuration,
      description: 'how long, e.g. 2h or 1h30m',
    },
    until: {
      type: 'string',
      value: 'ISO',
      expects: 'an RFC 3339 time',
      parse: instant,
      description: 'until this time instead',
    },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

export interface WakeDeps {
  kube: Pick<KubeObjects, 'get' | 'apply'>;
  namespace: string;
  nowMs: number;
}

/** Writes the annotation; returns the time written. */
export async function wakeTarget(deps: WakeDeps, target: string, untilMs: number): Promise<string> {
  const ref = { apiVersion: 'apps/v1', kind: 'Deployment', namespace: deps.namespace, name: target };
  if (!(await deps.kube.get(ref))) throw new Error(`no Triton Deployment ${deps.namespace}/${target}`);
  const until = new Date(untilMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const patch: KubernetesObject & { metadata: { annotations: Record<string, string> } } = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: target, namespace: deps.namespace, annotations: { [ANNOTATIONS.wakeUntil]: until } },
  };
  await deps.kube.apply(patch, { fieldManager: 'inferctl', force: true });
  return until;
}

export async function wakeCommand(args: string[], io: CliIo, env: Env = process.env): Promise<number> {
  const parsed = parseCommandLine(SPEC, args, io);
  if (typeof parsed === 'number') return parsed;
  const target = parsed.positionals[0] as string;
  const { for: duration, until } = parsed.values;
  if ((duration === undefined) === (until === undefined)) {
    io.stderr.write(`${SPEC.command}: give exactly one of --for and --until\n`);
    return EXIT_USAGE;
  }
  const nowMs = Date.now();
  const untilMs = until ?? nowMs + (duration ?? 0);
  if (untilMs <= nowMs) {
    io.stderr.write(`${SPEC.command}: --until is in the past\n`);
    return EXIT_USAGE;
  }
  let close: (() => Promise<void>) | undefined;
  try {
    const config = loadConfig(env);
    const cluster = await connectCluster(clusterTargetOf(config));
    close = cluster.close;
    const written = await wakeTarget(
      { kube: cluster.kubeObjects, namespace: config.namespace, nowMs },
      target,
      untilMs,
    );
    io.stdout.write(`${target}: woken until ${written} (the next applySchedules tick restores it)\n`);
    return EXIT_OK;
  } catch (err) {
    io.stderr.write(`${SPEC.command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  } finally {
    await close?.().catch(() => undefined);
  }
}
