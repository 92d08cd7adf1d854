/**
 * inferctl schedule preview --from <ISO> --to <ISO> [--policy FILE] [--json]
 *
 * The transitions the policy's schedules will make between two instants: when each target scales
 * down (with the saving that downtime is expected to bring), when its warm restore starts and
 * when its window ends. Reads the policy file only; touches nothing.
 */
import { readFile } from 'node:fs/promises';
import { createStorageClient, GcsObjectStore } from '../shared/adapters/storage';
import { placementFor } from '../shared/cluster/desired';
import { loadPolicy, type Policy } from '../shared/policy';
import { readPolicy } from '../shared/policy/source';
import { type Env, loadConfig } from '../shared/runtime/config';
import { previewTransitions, type Transition } from '../shared/schedules/preview';
import type { TargetUniverse } from '../shared/schedules/targets';
import {
  type CommandSpec,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  type OptionSpec,
  parseCommandLine,
} from './args';
import type { CliIo } from './io';

function instant(raw: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(ms)) throw new Error(`"${raw}" is not an ISO 8601 time such as 2026-12-07T00:00:00Z`);
  return ms;
}

const SPEC = {
  command: 'inferctl schedule preview',
  description: `Lists the transitions (time, target, action, expected saving) the schedules of the policy file
will make between --from and --to. Targets named by models are placed on their GPU class's pool;
"all" stands for every pool the policy places. Expected savings count the policy's minimum
replicas, one node each. Changes nothing.`,
  options: {
    from: {
      type: 'string',
      value: 'ISO',
      expects: 'an ISO 8601 time',
      parse: instant,
      description: 'start (inclusive)',
    },
    to: {
      type: 'string',
      value: 'ISO',
      expects: 'an ISO 8601 time',
      parse: instant,
      description: 'end (exclusive)',
    },
    policy: {
      type: 'string',
      value: 'FILE',
      description: 'the policy file (path or gs:// URI; default: INFERPLANE_POLICY or ./policy.yaml)',
    },
    json: { type: 'boolean', description: 'print JSON only: {transitions, totals}' },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

/** At most a year: a preview is for reading. */
const MAX_RANGE_MS = 366 * 86_400_000;

async function policyOf(path: string, env: Env): Promise<Policy> {
  if (!path.startsWith('gs://')) return loadPolicy(await readFile(path, 'utf8'), path);
  const config = loadConfig({ ...env, INFERPLANE_POLICY: path });
  const storage = createStorageClient({ projectId: config.project, endpoint: config.endpoints.storage });
  return readPolicy(config, new GcsObjectStore(storage));
}

/** Every pool the policy places (the default GPU class and each model's). */
export function policyPools(policy: Policy): string[] {
  const ids = new Set([
    policy.modelDefaults.gpuClass,
    ...Object.values(policy.models).flatMap((m) => (m.gpuClass ? [m.gpuClass] : [])),
  ]);
  return [...ids].map((id) => placementFor(policy, id).pool).sort();
}

export async function scheduleCommand(args: string[], io: CliIo, env: Env = process.env): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'preview') {
    const help = sub === '--help' || sub === '-h';
    (help ? io.stdout : io.stderr).write(
      `${help ? '' : `inferctl schedule: ${sub === undefined ? 'give a subcommand' : `unknown subcommand '${sub}'`}\n\n`}` +
        'Usage: inferctl schedule preview --from <ISO> --to <ISO> [--policy FILE] [--json]\n',
    );
    return help ? EXIT_OK : EXIT_USAGE;
  }
  const parsed = parseCommandLine(SPEC, rest, io);
  if (typeof parsed === 'number') return parsed;
  const { from, to, json } = parsed.values;
  if (from === undefined || to === undefined) {
    io.stderr.write(`${SPEC.command}: give both --from and --to\n`);
    return EXIT_USAGE;
  }
  if (!(to > from) || to - from > MAX_RANGE_MS) {
    io.stderr.write(`${SPEC.command}: --to must be after --from, and at most a year later\n`);
    return EXIT_USAGE;
  }
  let transitions: Transition[];
  try {
    const policy = await policyOf(parsed.values.policy ?? env.INFERPLANE_POLICY ?? './policy.yaml', env);
    const universe: TargetUniverse = { pools: policyPools(policy), modelPools: new Map() };
    transitions = previewTransitions(policy, universe, from, to);
  } catch (err) {
    io.stderr.write(`${SPEC.command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
  const totals = transitions.reduce(
    (t, x) => ({
      gpuHours: t.gpuHours + (x.expectedSaving?.gpuHours ?? 0),
      usd: t.usd + (x.expectedSaving?.usd ?? 0),
    }),
    { gpuHours: 0, usd: 0 },
  );
  const rounded = {
    gpuHours: Math.round(totals.gpuHours * 1000) / 1000,
    usd: Math.round(totals.usd * 100) / 100,
  };
  if (json) {
    io.stdout.write(`${JSON.stringify({ transitions, totals: rounded }, null, 2)}\n`);
    return EXIT_OK;
  }
  if (transitions.length === 0) {
    io.stdout.write('No transitions in that range.\n');
    return EXIT_OK;
  }
  const rows = transitions.map((t) => [
    t.time,
    t.target,
    t.action,
    t.schedule,
    t.expectedSaving ? `${t.expectedSaving.gpuHours} GPU-h, $${t.expectedSaving.usd}` : '',
  ]);
  const head = ['TIME', 'TARGET', 'ACTION', 'SCHEDULE', 'EXPECTED SAVING'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  io.stdout.write(`${[line(head), ...rows.map(line)].join('\n')}\n\n`);
  io.stdout.write(`Expected saving in total: ${rounded.gpuHours} GPU-hours, $${rounded.usd}\n`);
  return EXIT_OK;
}
