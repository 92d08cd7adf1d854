/**
 * inferctl alert <open|close> --policy NAME [--label k=v ...] [--incident ID] [--json] [--project P]
 *
 * Publishes a Cloud Monitoring schema-1.2 incident notification to the alerts topic, as a Pub/Sub
 * notification channel does. `open` starts a new incident (its id is printed and remembered in the
 * sandbox's directory); `close` ends the one `open` started for the same policy and labels.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../shared/runtime/config';
import { type CommandSpec, EXIT_OK, EXIT_USAGE, type OptionSpec, parseCommandLine, usageOf } from './args';
import { fail, PROJECT_OPTION } from './common';
import type { CliIo } from './io';
import { monitoringIncident, newIncidentId, parseLabel } from './messages';
import { publishJson } from './publish';
import { resolveTarget } from './sandbox-env';

const SPEC = {
  command: 'inferctl alert',
  operands: '<open|close>',
  positionals: {
    min: 1,
    max: 1,
    missing:
      "say what the incident does: 'inferctl alert open --policy NAME' or 'inferctl alert close --policy NAME'",
    tooMany: 'give one of open or close',
  },
  description: `Publishes a Cloud Monitoring incident notification (schema 1.2) to the alerts topic, as a Pub/Sub
notification channel does; scaleOnAlert acts on it as on a real one. The alert rules of the policy
file match the policy name and its user labels (--label, repeatable): examples/policy.yaml's
queue-high rule matches --policy triton-queue-high --label action=scale-out.`,
  options: {
    policy: {
      type: 'string',
      value: 'NAME',
      expects: 'an alert policy name',
      description: 'the alert policy (policy_name)',
    },
    label: {
      type: 'string',
      value: 'KEY=VALUE',
      description: 'a user label of the alert policy (repeatable)',
    },
    incident: {
      type: 'string',
      value: 'ID',
      description: 'the incident id (default: new for open, the one open started for close)',
    },
    json: { type: 'boolean', description: 'print JSON only: {topic, messageId, via, notification}' },
    project: PROJECT_OPTION,
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

interface OpenIncident {
  incidentId: string;
  startedAtMs: number;
}

/** `--label` repeats, which the shared parser does not do: its occurrences are taken out first. */
function takeLabels(args: readonly string[]): { rest: string[]; labels: string[] } {
  const rest: string[] = [];
  const labels: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--label') {
      labels.push(args[i + 1] ?? '');
      i++;
    } else if (a.startsWith('--label=')) labels.push(a.slice('--label='.length));
    else rest.push(a);
  }
  return { rest, labels };
}

function keyOf(policy: string, labels: Record<string, string>): string {
  return `${policy}|${Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;
}

export async function alertCommand(args: string[], io: CliIo, env = process.env): Promise<number> {
  const { rest, labels: rawLabels } = takeLabels(args);
  const parsed = parseCommandLine(SPEC, rest, io);
  if (typeof parsed === 'number') return parsed;
  const { policy, incident, json, project } = parsed.values;
  const state = parsed.positionals[0];
  const usage = (message: string) => {
    io.stderr.write(`${SPEC.command}: ${message}\n\n${usageOf(SPEC)}`);
    return EXIT_USAGE;
  };
  if (state !== 'open' && state !== 'close') return usage(`give open or close, not ${JSON.stringify(state)}`);
  if (!policy)
    return usage('--policy NAME is required (the alert policy the rules match, e.g. triton-queue-high)');
  const labels: Record<string, string> = {};
  try {
    for (const raw of rawLabels) {
      const [k, v] = parseLabel(raw);
      labels[k] = v;
    }
  } catch (err) {
    return usage((err as Error).message);
  }

  try {
    const target = resolveTarget(env, { project });
    const config = loadConfig(target.env);
    const file = target.kind === 'sandbox' ? path.join(target.sandbox.dir, 'incidents.json') : undefined;
    const known: Record<string, OpenIncident> =
      file && existsSync(file)
        ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, OpenIncident>)
        : {};
    const key = keyOf(policy, labels);
    const nowMs = Date.now();
    let open: OpenIncident;
    if (state === 'open') {
      open = { incidentId: incident ?? newIncidentId(), startedAtMs: nowMs };
    } else {
      const found = known[key];
      if (incident) open = { incidentId: incident, startedAtMs: found?.startedAtMs ?? nowMs };
      else if (found) open = found;
      else {
        throw new Error(
          `no open incident of ${policy} with these labels was started here; give --incident ID (printed by 'inferctl alert open')`,
        );
      }
    }
    const notification = monitoringIncident({
      state: state === 'open' ? 'open' : 'closed',
      policy,
      labels,
      incidentId: open.incidentId,
      project: config.project,
      location: config.location,
      cluster: config.cluster,
      namespace: config.namespace,
      nowMs,
      startedAtMs: open.startedAtMs,
    });
    const sent = await publishJson(target, 'alerts', notification);
    if (file) {
      if (state === 'open') known[key] = open;
      else delete known[key];
      writeFileSync(file, `${JSON.stringify(known, null, 2)}\n`);
    }
    if (json) io.stdout.write(`${JSON.stringify({ ...sent, notification }, null, 2)}\n`);
    else {
      io.stdout.write(
        `published incident ${open.incidentId} (${state === 'open' ? 'open' : 'closed'}) of ${policy} to ${sent.topic} (message ${sent.messageId}, ${sent.via})\n`,
      );
    }
    return EXIT_OK;
  } catch (err) {
    return fail(io, SPEC.command, json, err);
  }
}
