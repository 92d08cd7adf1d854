/**
 * inferctl's entry points in child processes, as an operator runs them: `npm run inferctl`,
 * the package bin (what `npx inferctl` runs) and `tsx cli/inferctl.ts`. Each must run the command
 * and exit with its status, from any working directory.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'inferctl.js');
const TSX = path.join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Exit {
  code: number;
  stdout: string;
  stderr: string;
}

function runProcess(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.INFERPLANE_POLICY;
    execFile(file, args, { cwd, env: childEnv, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : undefined;
      if (code === undefined) reject(err);
      else resolve({ code, stdout, stderr });
    });
  });
}

describe('inferctl entry points', () => {
  let elsewhere: string;
  beforeAll(async () => {
    elsewhere = await mkdtemp(path.join(tmpdir(), 'inferctl-entry-'));
  });
  afterAll(async () => {
    if (elsewhere) await rm(elsewhere, { recursive: true, force: true });
  });

  it.each([
    { name: 'npm run inferctl --', file: NPM, prefix: ['run', '--silent', 'inferctl', '--'] },
    { name: 'the package bin', file: process.execPath, prefix: [BIN] },
    {
      name: 'tsx cli/inferctl.ts',
      file: process.execPath,
      prefix: [TSX, path.join(ROOT, 'cli', 'inferctl.ts')],
    },
  ])('$name: --help prints the commands (exit 0); an unknown command exits 2', async ({ file, prefix }) => {
    // Act
    const help = await runProcess(file, [...prefix, '--help'], ROOT);
    const unknown = await runProcess(file, [...prefix, 'frobnicate'], ROOT);

    // Assess
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: inferctl <command> \[options\]\n/);
    for (const command of ['inspect', 'manifests', 'plan']) expect(help.stdout).toContain(`  ${command} `);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toMatch(/^inferctl: unknown command 'frobnicate'\n/);
  });

  it('npm run inferctl -- inspect FILE prints the signature and the config (exit 0)', async () => {
    // Act
    const result = await runProcess(
      NPM,
      ['run', '--silent', 'inferctl', '--', 'inspect', 'test/fixtures/onnx/add-dynamic-batch.onnx', '--json'],
      ROOT,
    );

    // Assess
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const json = JSON.parse(result.stdout) as { config: string; inputs: unknown[] };
    expect(json.inputs.length).toBeGreaterThan(0);
    expect(json.config).toContain('max_batch_size');
  });

  it('the bin, from a directory without a policy: manifests --gpu-class l4 uses the bundled example', async () => {
    // Act: the README's line, with no policy anywhere in reach.
    const result = await runProcess(process.execPath, [BIN, 'manifests', '--gpu-class', 'l4'], elsewhere);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(
      `using the bundled example ${path.join(ROOT, 'examples', 'policy.yaml')}`,
    );
    const kinds = parseAllDocuments(result.stdout).map((d) => (d.toJS() as { kind?: string } | null)?.kind);
    expect(kinds).toContain('Deployment');
  });

  it('the bin passes a command failure through as exit 1', async () => {
    const result = await runProcess(process.execPath, [BIN, 'inspect', 'no-such-model.onnx'], elsewhere);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('inferctl inspect: cannot open no-such-model.onnx');
  });
});
