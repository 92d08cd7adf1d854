/**
 * inferctl logs [--follow] [--function F] [--json]
 *
 * The functions' structured log lines, as the sandbox keeps them (`<sandbox>/logs/<function>.log`,
 * one JSON entry a line). On Google Cloud the same entries are in Cloud Logging.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type CommandSpec, EXIT_OK, type OptionSpec, parseCommandLine } from './args';
import { fail, PROJECT_OPTION } from './common';
import type { CliIo } from './io';
import { NoTargetError, resolveTarget } from './sandbox-env';

const SPEC = {
  command: 'inferctl logs',
  description: `Prints the functions' log entries from the running sandbox, oldest first; --follow keeps printing
new ones until Ctrl-C. On Google Cloud read them in Cloud Logging (gcloud functions logs read).`,
  options: {
    follow: { short: 'f', type: 'boolean', description: 'keep printing new entries' },
    function: {
      type: 'string',
      value: 'NAME',
      description: 'only this function (deployModel, scaleOnAlert, ...)',
    },
    json: { type: 'boolean', description: 'print the entries as JSON lines, as the functions wrote them' },
    project: PROJECT_OPTION,
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

/** One entry a line: `[function] SEVERITY message` (a line that is not JSON is shown as it is). */
export function formatLogLine(fn: string, line: string): string {
  try {
    const e = JSON.parse(line) as { severity?: string; message?: string; time?: string; timestamp?: string };
    const time = e.time ?? e.timestamp;
    return `${time ? `${time} ` : ''}[${fn}] ${e.severity ?? 'INFO'} ${e.message ?? line}`;
  } catch {
    return `[${fn}] ${line}`;
  }
}

export async function logsCommand(
  args: string[],
  io: CliIo,
  env = process.env,
  signal?: AbortSignal,
): Promise<number> {
  const parsed = parseCommandLine(SPEC, args, io);
  if (typeof parsed === 'number') return parsed;
  const { follow, function: only, json, project } = parsed.values;
  try {
    const target = resolveTarget(env, { project });
    if (target.kind !== 'sandbox') {
      throw new NoTargetError(
        `on Google Cloud the functions log to Cloud Logging: gcloud functions logs read ${only ?? 'deployModel'} --project ${target.env.INFERPLANE_PROJECT}`,
      );
    }
    const dir = target.sandbox.logs;
    const names = existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith('.log'))
          .map((f) => f.slice(0, -4))
      : [];
    if (only && !Object.hasOwn(target.sandbox.functions, only)) {
      throw new Error(
        `no function ${only} in this sandbox; the functions are ${Object.keys(target.sandbox.functions).join(', ')}`,
      );
    }
    const offsets = new Map<string, number>();
    const pass = () => {
      for (const fn of only ? [only] : names) {
        const file = path.join(dir, `${fn}.log`);
        if (!existsSync(file)) continue;
        const text = readFileSync(file, 'utf8');
        const from = offsets.get(fn) ?? 0;
        // Only whole lines: the last one may still be being written.
        const end = follow ? Math.max(from, text.lastIndexOf('\n') + 1) : text.length;
        const chunk = text.slice(from, end);
        offsets.set(fn, end);
        for (const line of chunk.split('\n')) {
          if (line.trim() === '') continue;
          io.stdout.write(`${json ? line : formatLogLine(fn, line)}\n`);
        }
      }
    };
    pass();
    while (follow && !signal?.aborted) {
      await new Promise((r) => setTimeout(r, 500));
      pass();
    }
    return EXIT_OK;
  } catch (err) {
    return fail(io, SPEC.command, json, err);
  }
}
