/**
 * inferctl tick [--at ISO] [--security] [--json] [--project P] [--topic T]
 *
 * One Cloud Scheduler tick, now: `reconcile-schedules` on the ticks topic (`--at`: evaluate as of
 * that time, to see a night or a morning without waiting for it), or `rotate-security` on the
 * security ticks topic.
 */
import { type CommandSpec, EXIT_OK, type OptionSpec, parseCommandLine } from './args';
import { fail, PROJECT_OPTION } from './common';
import type { CliIo } from './io';
import { reconcileSchedulesCommand, rotateSecurityCommand } from './messages';
import { publishJson } from './publish';
import { resolveTarget } from './sandbox-env';

function rfc3339(raw: string): string {
  if (
    !/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(raw) ||
    Number.isNaN(Date.parse(raw))
  ) {
    throw new Error('');
  }
  return raw;
}

const SPEC = {
  command: 'inferctl tick',
  description: `Publishes one scheduler tick now, as Cloud Scheduler does: reconcile-schedules on the ticks topic
(applySchedules and scaleOnAlert evaluate their windows and expiries), or rotate-security with
--security. --at evaluates the schedules as of another time (sandbox and CLI only).`,
  options: {
    at: {
      type: 'string',
      value: 'TIME',
      expects: 'an RFC 3339 time with a zone (2026-12-02T22:00:00Z, 2026-12-02T23:00:00+01:00)',
      parse: rfc3339,
      description: 'evaluate the schedules as of this time instead of now',
    },
    security: { type: 'boolean', description: 'publish rotate-security on the security ticks topic instead' },
    topic: {
      type: 'string',
      value: 'TOPIC',
      description: 'publish to this topic instead of the default one',
    },
    json: { type: 'boolean', description: 'print JSON only: {topic, messageId, via, message}' },
    project: PROJECT_OPTION,
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

export async function tickCommand(args: string[], io: CliIo, env = process.env): Promise<number> {
  const parsed = parseCommandLine(SPEC, args, io);
  if (typeof parsed === 'number') return parsed;
  const { at, security, topic, json, project } = parsed.values;
  if (security && at !== undefined) {
    return fail(
      io,
      SPEC.command,
      json,
      new Error('--at applies to reconcile-schedules only: drop --at or --security'),
    );
  }
  try {
    const target = resolveTarget(env, { project });
    const message = security ? rotateSecurityCommand() : reconcileSchedulesCommand(at as string | undefined);
    const job = security ? 'inferctl-rotate-security' : 'inferctl-reconcile-schedules';
    const sent = await publishJson(
      target,
      security ? 'securityTicks' : 'ticks',
      message,
      { 'inferplane-job': job },
      topic,
    );
    if (json) io.stdout.write(`${JSON.stringify({ ...sent, message }, null, 2)}\n`);
    else
      io.stdout.write(
        `published ${message.command}${at ? ` at ${at}` : ''} to ${sent.topic} (message ${sent.messageId}, ${sent.via})\n`,
      );
    return EXIT_OK;
  } catch (err) {
    return fail(io, SPEC.command, json, err);
  }
}
