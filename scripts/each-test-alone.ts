/**
 * Runs every test of the given files alone, each in its own `vitest run FILE -t '^NAME$'`, and
 * fails when one of them does not pass on its own: a test that only passes after another one left
 * state behind is a defect that the ordinary run hides.
 *
 *   npx tsx scripts/each-test-alone.ts test/e2e/deploy-model.test.ts [--jobs N] [--match TEXT]
 *
 * The names come from vitest's own collection (the same tests `vitest list` shows); a run counts
 * as passing only when exactly one test passed and none failed, so a pattern that selects nothing
 * (or more than the one test) fails too. Exit status: 0 every test passes alone, 1 one does not,
 * 2 usage error.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CommandSpec, EXIT_FAILURE, EXIT_OK, type OptionSpec, parseCommandLine } from '../cli/args';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const VITEST = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');

const SPEC = {
  command: 'each-test-alone',
  operands: '<test file>...',
  positionals: {
    min: 1,
    max: Number.POSITIVE_INFINITY,
    missing: 'give at least one test file, e.g. test/e2e/deploy-model.test.ts',
    tooMany: '',
  },
  description:
    'Runs every test of the files alone, one vitest process per test, and reports the ones that fail.',
  options: {
    jobs: {
      type: 'string',
      value: 'N',
      expects: 'a positive integer',
      parse: (raw: string) => {
        if (!/^[1-9]\d*$/.test(raw)) throw new Error('');
        return Number(raw);
      },
      description: 'how many tests run at once (default: 1; the machines are shared)',
    },
    match: {
      type: 'string',
      value: 'TEXT',
      description: 'only the tests whose full name contains TEXT',
    },
  },
  exitStatus: 'Exit status: 0 every test passes alone, 1 at least one does not, 2 usage error.',
} satisfies CommandSpec<Record<string, OptionSpec>>;

export interface CollectedTest {
  file: string;
  /** Suite and test names, outermost first. */
  names: string[];
}

/** The tests of the files, as vitest collects them (nothing runs but the files' top level). */
export async function collectTests(files: readonly string[]): Promise<CollectedTest[]> {
  // Loaded here, not at the top: usage errors and the pattern need none of vitest.
  const { createVitest } = await import('vitest/node');
  const vitest = await createVitest('test', { watch: false, root: ROOT, reporters: [] });
  try {
    const { testModules, unhandledErrors } = await vitest.collect([...files]);
    if (unhandledErrors.length > 0) throw new Error(`collecting failed: ${String(unhandledErrors[0])}`);
    const tests: CollectedTest[] = [];
    for (const module of testModules) {
      const errors = module.errors();
      if (errors.length > 0) throw new Error(`${module.moduleId}: ${errors[0]?.message ?? 'cannot collect'}`);
      for (const test of module.children.allTests()) {
        const names = [test.name];
        for (let p = test.parent; p.type === 'suite'; p = p.parent) names.unshift(p.name);
        tests.push({ file: path.relative(ROOT, module.moduleId), names });
      }
    }
    return tests;
  } finally {
    await vitest.close();
  }
}

/** vitest's -t matches the suite and test names joined by spaces; this pattern matches one test. */
export function exactNamePattern(names: readonly string[]): string {
  return `^${names.join(' ').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

interface AloneResult {
  test: CollectedTest;
  ok: boolean;
  seconds: number;
  detail: string;
}

interface JsonReport {
  numPassedTests?: number;
  numFailedTests?: number;
  testResults?: Array<{ message?: string; assertionResults?: Array<{ failureMessages?: string[] }> }>;
}

async function runAlone(test: CollectedTest, dir: string, index: number): Promise<AloneResult> {
  const report = path.join(dir, `${index}.json`);
  const args = [
    VITEST,
    'run',
    test.file,
    '-t',
    exactNamePattern(test.names),
    '--reporter=json',
    `--outputFile=${report}`,
  ];
  const started = performance.now();
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    // Without CI: under CI the config adds a JSON reporter of its own (to .vitest-results.json),
    // which would take the place of this run's report and overwrite the outer run's.
    const { CI: _ci, ...env } = process.env;
    const child = spawn(process.execPath, args, { cwd: ROOT, env });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (text += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (exitCode) => resolve({ code: exitCode, output: text }));
  });
  const seconds = (performance.now() - started) / 1000;
  let json: JsonReport = {};
  try {
    json = JSON.parse(await readFile(report, 'utf8')) as JsonReport;
  } catch {
    // No report: vitest itself failed; its output says why.
  }
  const passed = json.numPassedTests ?? 0;
  const failed = json.numFailedTests ?? 0;
  const ok = code === 0 && passed === 1 && failed === 0;
  let detail = '';
  if (!ok) {
    const failure =
      json.testResults?.flatMap((r) => [
        ...(r.assertionResults ?? []).flatMap((a) => a.failureMessages ?? []),
        ...(r.message ? [r.message] : []),
      ])[0] ?? output.trim().split('\n').slice(-5).join('\n');
    const why = passed === 0 && failed === 0 ? 'no test ran. ' : passed > 1 ? `${passed} tests ran. ` : '';
    detail = `${why}${failure.split('\n').slice(0, 3).join('\n      ')}`;
  }
  return { test, ok, seconds, detail };
}

export async function main(argv: readonly string[]): Promise<number> {
  const io = { stdout: process.stdout, stderr: process.stderr };
  const parsed = parseCommandLine(SPEC, argv, io);
  if (typeof parsed === 'number') return parsed;
  const { jobs = 1, match } = parsed.values;

  const tests = (await collectTests(parsed.positionals)).filter(
    (t) => match === undefined || t.names.join(' > ').includes(match),
  );
  if (tests.length === 0) {
    io.stderr.write(`${SPEC.command}: no test found in ${parsed.positionals.join(', ')}\n`);
    return EXIT_FAILURE;
  }
  io.stdout.write(`Running ${tests.length} tests alone, ${jobs} at a time\n`);
  const dir = await mkdtemp(path.join(tmpdir(), 'each-test-alone-'));
  const started = performance.now();
  const results: AloneResult[] = [];
  try {
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < tests.length; i = next++) {
        const result = await runAlone(tests[i]!, dir, i);
        results.push(result);
        const mark = result.ok ? 'PASS' : 'FAIL';
        io.stdout.write(
          `${mark} ${result.seconds.toFixed(1).padStart(6)}s  ${result.test.names.join(' > ')}\n`,
        );
        if (!result.ok) io.stdout.write(`      ${result.detail}\n`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, tests.length) }, worker));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const failed = results.filter((r) => !r.ok);
  const wall = (performance.now() - started) / 1000;
  io.stdout.write(
    `\n${results.length - failed.length} of ${results.length} tests pass alone (${wall.toFixed(0)} s wall clock)\n`,
  );
  for (const f of failed) io.stdout.write(`  fails alone: ${f.test.file} > ${f.test.names.join(' > ')}\n`);
  return failed.length === 0 ? EXIT_OK : EXIT_FAILURE;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
