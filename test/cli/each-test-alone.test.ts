/**
 * scripts/each-test-alone.ts in a child process, on a fixture whose second test only passes after
 * the first: the script must find exactly that one, and exit 1.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exactNamePattern } from '../../scripts/each-test-alone';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const SCRIPT = path.join(ROOT, 'scripts', 'each-test-alone.ts');
const FIXTURE = 'test/cli/fixtures/order-dependent.test.ts';

function runScript(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // The child is a vitest of its own, not a worker of this one.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VITEST')));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [TSX, SCRIPT, ...args],
      { cwd: ROOT, env, timeout: 170_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : undefined;
        if (code === undefined) reject(err);
        else resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('each-test-alone', () => {
  it('finds the test that only passes after another one, and exits 1', async () => {
    // Act
    const { code, stdout } = await runScript([FIXTURE]);

    // Assess
    expect(code).toBe(1);
    expect(stdout).toMatch(
      /^PASS +[\d.]+s {2}order-dependent \(fixture\) > sets the state \(passes alone\)$/m,
    );
    expect(stdout).toMatch(
      /^FAIL +[\d.]+s {2}order-dependent \(fixture\) > reads the state \(fails alone\)$/m,
    );
    expect(stdout).toContain('1 of 2 tests pass alone');
    expect(stdout).toContain(
      `fails alone: ${FIXTURE} > order-dependent (fixture) > reads the state (fails alone)`,
    );
  });

  it('exits 0 when every selected test passes alone', async () => {
    const { code, stdout } = await runScript([FIXTURE, '--match', 'sets the state']);
    expect(code).toBe(0);
    expect(stdout).toContain('1 of 1 tests pass alone');
  }, 180_000);

  it('a usage error exits 2', async () => {
    const { code, stderr } = await runScript([]);
    expect(code).toBe(2);
    expect(stderr).toContain('each-test-alone: give at least one test file');
  });

  it.each([
    { names: ['suite (a)', 'test.b [c]'], matches: 'suite (a) test.b [c]', not: 'xsuite (a) test.b [c]' },
    {
      names: ["'a.b…' -> rejected 'X'"],
      matches: "'a.b…' -> rejected 'X'",
      not: "'a.b…' -> rejected 'X' again",
    },
  ])('the -t pattern of $names matches that test only', ({ names, matches, not }) => {
    const pattern = new RegExp(exactNamePattern(names));
    expect(pattern.test(matches)).toBe(true);
    expect(pattern.test(not)).toBe(false);
  });
});
