/**
 * inferctl load <model> --rps N --for DURATION [--json]
 *
 * Inference load on the sandbox's Triton (the model's pool Service), so queue time rises, the
 * sandbox's alert policy opens an incident by itself and scaleOnAlert and the HPA follow. The
 * sandbox sends the requests (its load generator, loopback only); this command waits for the result.
 */
import {
  type CommandSpec,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  type OptionSpec,
  parseCommandLine,
  usageOf,
} from './args';
import { fail } from './common';
import type { CliIo } from './io';
import { requireSandbox, resolveTarget, sandboxRequest } from './sandbox-env';

/** `30s`, `5m`, `1h`, `1m30s`, `500ms`: milliseconds. */
export function parseDuration(raw: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let consumed = '';
  for (const m of raw.matchAll(re)) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    total += Number(m[1]) * unit;
    consumed += m[0];
  }
  if (consumed !== raw || total <= 0) throw new Error('');
  return Math.round(total);
}

const SPEC = {
  command: 'inferctl load',
  operands: '<model>',
  positionals: {
    min: 1,
    max: 1,
    missing: 'name the model to load: inferctl load add --rps 50 --for 2m',
    tooMany: 'name one model',
  },
  description: `Sends inference requests to the model on the sandbox's Triton (its pool's Service) at --rps for
--for, then prints what came back. Enough load raises the queue time, the sandbox's alert policy
opens an incident on its own and scaleOnAlert scales out. Sandbox only.`,
  options: {
    rps: {
      type: 'string',
      value: 'N',
      expects: 'requests per second, 1-1000',
      parse: (raw: string) => {
        const n = Number(raw);
        if (!/^\d+(\.\d+)?$/.test(raw) || n <= 0 || n > 1000) throw new Error('');
        return n;
      },
      description: 'requests per second',
    },
    for: {
      type: 'string',
      value: 'DURATION',
      expects: 'a duration up to 10m (30s, 2m, 1m30s)',
      parse: (raw: string) => {
        const ms = parseDuration(raw);
        if (ms > 600_000) throw new Error('at most 10m');
        return ms;
      },
      description: 'how long to send',
    },
    version: {
      type: 'string',
      value: 'N',
      description: 'the model version (default: the one Triton serves)',
    },
    json: {
      type: 'boolean',
      description: 'print JSON only: the load result {sent, succeeded, failed, byStatus, ...}',
    },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

interface LoadResult {
  sent: number;
  succeeded: number;
  failed: number;
  byStatus: Record<string, number>;
  errors: string[];
  elapsedMs: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
}

export async function loadCommand(args: string[], io: CliIo, env = process.env): Promise<number> {
  const parsed = parseCommandLine(SPEC, args, io);
  if (typeof parsed === 'number') return parsed;
  const { rps, for: durationMs, version, json } = parsed.values;
  if (rps === undefined || durationMs === undefined) {
    io.stderr.write(
      `${SPEC.command}: give both --rps N and --for DURATION (e.g. --rps 50 --for 2m)\n\n${usageOf(SPEC)}`,
    );
    return EXIT_USAGE;
  }
  try {
    const sandbox = requireSandbox(resolveTarget(env), SPEC.command);
    if (!json)
      io.stderr.write(
        `sending ${rps} requests/s to ${parsed.positionals[0]} for ${durationMs / 1000} s...\n`,
      );
    const result = await sandboxRequest<LoadResult>(sandbox, '/api/load', {
      model: parsed.positionals[0],
      rps,
      durationMs,
      ...(version ? { version } : {}),
    });
    if (json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      io.stdout.write(
        `sent ${result.sent}: ${result.succeeded} succeeded, ${result.failed} failed ${JSON.stringify(result.byStatus)}; ` +
          `latency p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms\n`,
      );
      for (const e of result.errors) io.stdout.write(`  ${e}\n`);
    }
    return result.sent > 0 && result.succeeded === 0 ? EXIT_FAILURE : EXIT_OK;
  } catch (err) {
    return fail(io, SPEC.command, json, err);
  }
}
