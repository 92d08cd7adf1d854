/**
 * The one argument parser of inferctl's commands: `node:util` parseArgs in strict mode, with typed
 * options, a generated `--help`, and usage errors that say what to do next. Every command exits
 * 0 when it did its job, 1 when it failed, 2 on a usage error (plan adds 3: plan refused).
 */
import { parseArgs } from 'node:util';
import type { CliIo } from './io';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

interface OptionBase {
  /** One-letter alias, without the dash. */
  short?: string;
  description: string;
}

export interface BooleanOption extends OptionBase {
  type: 'boolean';
}

export interface StringOption extends OptionBase {
  type: 'string';
  /** Placeholder in the usage line: `--policy FILE`. */
  value: string;
  /** What the value must be, for errors: "a non-negative integer" (default: "a value"). */
  expects?: string;
  /** Turns the raw text into the option's value; throws an Error whose message says why not. */
  parse?: (raw: string) => unknown;
}

export type OptionSpec = BooleanOption | StringOption;

export interface CommandSpec<O extends Record<string, OptionSpec>> {
  /** `inferctl inspect`: the prefix of every message. */
  command: string;
  /** What follows the command in the usage line, before the options: `<model.onnx>`. */
  operands?: string;
  /** How many positional arguments the command takes (default: none). */
  positionals?: { min: number; max: number; missing: string; tooMany: string };
  /** A paragraph under the usage line. */
  description: string;
  options: O;
  /** Replaces the closing exit-status line (plan has a fourth status). */
  exitStatus?: string;
}

/** The parsed values: booleans are always set, string options are undefined when not given. */
export type OptionValues<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends BooleanOption
    ? boolean
    : O[K] extends { parse: (raw: string) => infer T }
      ? T | undefined
      : string | undefined;
};

export interface ParsedCommandLine<O extends Record<string, OptionSpec>> {
  values: OptionValues<O>;
  positionals: string[];
}

const HELP: BooleanOption = { type: 'boolean', short: 'h', description: 'print this help and exit' };

const DEFAULT_EXIT_STATUS = 'Exit status: 0 done, 1 failed, 2 usage error.';

function flagOf(name: string, spec: OptionSpec): string {
  const long = spec.type === 'string' ? `--${name} ${spec.value}` : `--${name}`;
  return spec.short ? `-${spec.short}, ${long}` : `    ${long}`;
}

/** The `--help` text: usage line, description, one line per option, exit statuses. */
export function usageOf<O extends Record<string, OptionSpec>>(spec: CommandSpec<O>): string {
  const entries: Array<[string, OptionSpec]> = [...Object.entries(spec.options), ['help', HELP]];
  const flags = entries.map(([name, o]) => flagOf(name, o));
  const width = Math.max(...flags.map((f) => f.length)) + 2;
  const lines = entries.map(([, o], i) => `  ${(flags[i] ?? '').padEnd(width)}${o.description}`);
  const operands = spec.operands ? ` ${spec.operands}` : '';
  return (
    `Usage: ${spec.command}${operands} [options]\n\n${spec.description.trimEnd()}\n\n` +
    `Options:\n${lines.join('\n')}\n\n${spec.exitStatus ?? DEFAULT_EXIT_STATUS}\n`
  );
}

/** A command line that does not fit the command; the message says what to change. */
export class UsageError extends Error {
  override name = 'UsageError';
}

type ParseResult<O extends Record<string, OptionSpec>> =
  | { kind: 'ok'; parsed: ParsedCommandLine<O> }
  | { kind: 'help' }
  | { kind: 'usage'; message: string };

/** Parses without writing anything; `parseCommandLine` is the form commands use. */
export function parseCommandArgs<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  argv: readonly string[],
): ParseResult<O> {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: HELP };
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  }
  const allowPositionals = (spec.positionals?.max ?? 0) > 0;
  let raw: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    raw = parseArgs({ args: [...argv], options, strict: true, allowPositionals });
  } catch (err) {
    // --help wins over any other mistake on the same line.
    if (argv.some((a) => a === '--help' || a === '-h')) return { kind: 'help' };
    return { kind: 'usage', message: describeParseError(spec, argv, err) };
  }
  if (raw.values.help === true) return { kind: 'help' };

  const values: Record<string, unknown> = {};
  try {
    for (const [name, o] of Object.entries(spec.options)) {
      const v = raw.values[name];
      if (o.type === 'boolean') {
        values[name] = v === true;
      } else {
        values[name] = typeof v === 'string' ? convert(name, o, v) : undefined;
      }
    }
  } catch (err) {
    if (err instanceof UsageError) return { kind: 'usage', message: err.message };
    throw err;
  }

  const positionals = raw.positionals;
  const p = spec.positionals;
  if (p && positionals.length < p.min) return { kind: 'usage', message: p.missing };
  if (p && positionals.length > p.max) return { kind: 'usage', message: p.tooMany };
  return { kind: 'ok', parsed: { values: values as OptionValues<O>, positionals } };
}

function convert(name: string, o: StringOption, raw: string): unknown {
  const expects = o.expects ?? 'a value';
  if (raw === '') throw new UsageError(`--${name} needs ${expects} (--${name} ${o.value}), got nothing`);
  if (!o.parse) return raw;
  try {
    return o.parse(raw);
  } catch (err) {
    const why = err instanceof Error && err.message ? `: ${err.message}` : '';
    throw new UsageError(`--${name} needs ${expects}, got ${JSON.stringify(raw)}${why}`);
  }
}

/** node:util's messages name the problem; ours also say how to write it instead. */
function describeParseError<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  argv: readonly string[],
  err: unknown,
): string {
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? '';
  const known = Object.entries(spec.options)
    .map(([name, o]) => (o.type === 'string' ? `--${name} ${o.value}` : `--${name}`))
    .join(', ');
  const help = `see '${spec.command} --help'`;
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return known
        ? `unknown option ${quoted}; the options are ${known} (${help})`
        : `unknown option ${quoted}; this command takes no options (${help})`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument ${JSON.stringify(quoted)}: ${spec.command} takes options only (${help})`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      // "Option '--policy <value>' argument missing", "Option '-p, --policy' argument is ambiguous", ...
      const long = /--([\w-]+)/.exec(quoted)?.[1];
      const o = long === undefined ? undefined : spec.options[long];
      if (long === undefined || o === undefined) return `${message.split('\n')[0]} (${help})`;
      if (o.type === 'boolean') return `--${long} takes no value: write --${long} alone`;
      const at = argv.findIndex((a) => a === `--${long}` || (o.short !== undefined && a === `-${o.short}`));
      const next = at >= 0 ? argv[at + 1] : undefined;
      const expects = o.expects ?? 'a value';
      return next === undefined
        ? `--${long} needs ${expects} (--${long} ${o.value}), got nothing`
        : `--${long} needs ${expects}, got ${JSON.stringify(next)}, which reads as an option; ` +
            `write a value that starts with '-' as --${long}=${next}`;
    }
    default:
      return `${message.split('\n')[0]} (${help})`;
  }
}

/**
 * Parses a command's arguments, or answers `--help` (stdout, exit 0) or a usage error (the
 * message and the usage on stderr, exit 2): a number means "return this exit status now".
 */
export function parseCommandLine<O extends Record<string, OptionSpec>>(
  spec: CommandSpec<O>,
  argv: readonly string[],
  io: CliIo,
): ParsedCommandLine<O> | number {
  const result = parseCommandArgs(spec, argv);
  if (result.kind === 'ok') return result.parsed;
  if (result.kind === 'help') {
    io.stdout.write(usageOf(spec));
    return EXIT_OK;
  }
  io.stderr.write(`${spec.command}: ${result.message}\n\n${usageOf(spec)}`);
  return EXIT_USAGE;
}

/** `parse` for counts: digits only, a safe integer. */
export function nonNegativeInteger(raw: string): number {
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new Error('');
  return Number(raw);
}

/** `parse` for comma-separated lists; empty items are dropped. */
export function commaList(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
