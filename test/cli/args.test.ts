/** The shared argument parser of inferctl's commands (cli/args.ts), on a command of its own. */
import { describe, expect, it } from 'vitest';
import {
  type CommandSpec,
  commaList,
  EXIT_OK,
  EXIT_USAGE,
  nonNegativeInteger,
  type OptionSpec,
  parseCommandArgs,
  parseCommandLine,
  usageOf,
} from '../../cli/args';

const SPEC = {
  command: 'inferctl demo',
  operands: '<file>',
  positionals: { min: 1, max: 1, missing: 'missing <file>', tooMany: 'give exactly one file' },
  description: 'A command for the parser tests.',
  options: {
    json: { type: 'boolean', description: 'print JSON' },
    policy: { type: 'string', short: 'p', value: 'FILE', expects: 'a policy file', description: 'policy' },
    count: {
      type: 'string',
      value: 'N',
      expects: 'a non-negative integer',
      parse: nonNegativeInteger,
      description: 'how many',
    },
    models: { type: 'string', value: 'A,B', parse: commaList, description: 'models' },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

const NO_POSITIONALS = {
  command: 'inferctl bare',
  description: 'Takes options only.',
  options: { json: { type: 'boolean', description: 'print JSON' } },
} satisfies CommandSpec<Record<string, OptionSpec>>;

function captureIo() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: { write: (t: string) => (out.stdout += t) },
      stderr: { write: (t: string) => (out.stderr += t) },
    },
  };
}

describe('parseCommandArgs', () => {
  it.each([
    {
      name: 'defaults',
      argv: ['m.onnx'],
      values: { json: false, policy: undefined, count: undefined, models: undefined },
    },
    {
      name: 'every option, separate and inline values, short alias',
      argv: ['--json', '-p', 'a.yaml', '--count=8', '--models', 'a, b,,c', 'm.onnx'],
      values: { json: true, policy: 'a.yaml', count: 8, models: ['a', 'b', 'c'] },
    },
    {
      name: 'a dash value written inline',
      argv: ['--policy=-odd.yaml', 'm'],
      values: { policy: '-odd.yaml' },
    },
    {
      name: 'the last of a repeated option',
      argv: ['--count', '1', '--count', '2', 'm'],
      values: { count: 2 },
    },
    { name: 'a positional after --', argv: ['--', '-m.onnx'], positionals: ['-m.onnx'] },
  ])('$name', ({ argv, values, positionals }) => {
    const result = parseCommandArgs(SPEC, argv);
    expect(result.kind).toBe('ok');
    if (result.kind !== 'ok') return;
    if (values) expect(result.parsed.values).toMatchObject(values);
    expect(result.parsed.positionals).toEqual(positionals ?? [argv.at(-1)]);
  });

  it.each([
    { argv: ['--help'] },
    { argv: ['-h'] },
    { argv: ['m', '--help', '--nope'] },
    { argv: ['--count', 'x', '-h'] },
  ])('$argv asks for help', ({ argv }) => {
    expect(parseCommandArgs(SPEC, argv)).toEqual({ kind: 'help' });
  });

  it.each([
    {
      argv: ['m', '--nope'],
      message:
        "unknown option --nope; the options are --json, --policy FILE, --count N, --models A,B (see 'inferctl demo --help')",
    },
    {
      argv: ['m', '-z'],
      message:
        "unknown option -z; the options are --json, --policy FILE, --count N, --models A,B (see 'inferctl demo --help')",
    },
    { argv: ['m', '--policy'], message: '--policy needs a policy file (--policy FILE), got nothing' },
    { argv: ['m', '-p'], message: '--policy needs a policy file (--policy FILE), got nothing' },
    { argv: ['m', '--policy='], message: '--policy needs a policy file (--policy FILE), got nothing' },
    {
      argv: ['m', '--policy', '--json'],
      message:
        '--policy needs a policy file, got "--json", which reads as an option; write a value that starts with \'-\' as --policy=--json',
    },
    {
      argv: ['m', '--count', '-1'],
      message:
        '--count needs a non-negative integer, got "-1", which reads as an option; write a value that starts with \'-\' as --count=-1',
    },
    { argv: ['m', '--count=-1'], message: '--count needs a non-negative integer, got "-1"' },
    { argv: ['m', '--count', '1.5'], message: '--count needs a non-negative integer, got "1.5"' },
    {
      argv: ['m', '--count', '99999999999999999999'],
      message: '--count needs a non-negative integer, got "99999999999999999999"',
    },
    { argv: ['m', '--json=yes'], message: '--json takes no value: write --json alone' },
    { argv: [], message: 'missing <file>' },
    { argv: ['a', 'b'], message: 'give exactly one file' },
  ])('$argv is a usage error', ({ argv, message }) => {
    expect(parseCommandArgs(SPEC, argv)).toEqual({ kind: 'usage', message });
  });

  it('a command without positionals refuses one, and says it takes options only', () => {
    expect(parseCommandArgs(NO_POSITIONALS, ['file'])).toEqual({
      kind: 'usage',
      message: 'unexpected argument "file": inferctl bare takes options only (see \'inferctl bare --help\')',
    });
  });
});

describe('parseCommandLine', () => {
  it('--help: the usage on stdout, exit 0', () => {
    const { io, out } = captureIo();
    expect(parseCommandLine(SPEC, ['--help'], io)).toBe(EXIT_OK);
    expect(out.stdout).toBe(usageOf(SPEC));
    expect(out.stderr).toBe('');
  });

  it('a usage error: the message, then the usage, on stderr, exit 2', () => {
    const { io, out } = captureIo();
    expect(parseCommandLine(SPEC, ['m', '--count', 'x'], io)).toBe(EXIT_USAGE);
    expect(out.stdout).toBe('');
    expect(out.stderr).toBe(
      `inferctl demo: --count needs a non-negative integer, got "x"\n\n${usageOf(SPEC)}`,
    );
  });

  it('valid arguments: the values, nothing written', () => {
    const { io, out } = captureIo();
    expect(parseCommandLine(SPEC, ['m', '--count', '3'], io)).toMatchObject({
      values: { count: 3, json: false },
      positionals: ['m'],
    });
    expect(out).toEqual({ stdout: '', stderr: '' });
  });
});

describe('usageOf', () => {
  it('lists every option with its value, the help option and the exit statuses', () => {
    expect(usageOf(SPEC)).toBe(
      [
        'Usage: inferctl demo <file> [options]',
        '',
        'A command for the parser tests.',
        '',
        'Options:',
        '      --json         print JSON',
        '  -p, --policy FILE  policy',
        '      --count N      how many',
        '      --models A,B   models',
        '  -h, --help         print this help and exit',
        '',
        'Exit status: 0 done, 1 failed, 2 usage error.',
        '',
      ].join('\n'),
    );
  });
});
