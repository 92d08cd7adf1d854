import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../cli/inferctl';
import { resolveTarget, SANDBOX_API_VERSION, type SandboxEndpoints } from '../../cli/sandbox-env';

function endpoints(dir: string, pid: number): SandboxEndpoints {
  return {
    apiVersion: SANDBOX_API_VERSION,
    pid,
    startedAt: '2026-12-02T00:00:00Z',
    dir,
    env: {
      INFERPLANE_PROJECT: 'local-project',
      INFERPLANE_CLUSTER: 'inference',
      INFERPLANE_LOG_LEVEL: 'INFO',
    },
    control: 'http://127.0.0.1:1',
    pubsubEmulatorHost: null,
    projectId: 'local-project',
    topics: { alerts: 'a', ticks: 't', securityTicks: 's' },
    buckets: { incoming: 'i', repository: 'r', security: 'sec', state: 'r' },
    storage: 'http://127.0.0.1:2',
    tritonPool: 'http://127.0.0.1:3/pools/{pool}',
    functions: { deployModel: 'http://127.0.0.1:4/', scaleOnAlert: null },
    logs: path.join(dir, 'logs'),
    kubeconfig: path.join(dir, 'kubeconfig'),
  };
}

/** A pid that has certainly exited: a child process that already ended. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((r) => child.once('exit', r));
  return child.pid ?? 999_999;
}

describe('finding what to drive', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'inferctl-sandbox-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('takes a running sandbox, under the variables the caller set', async () => {
    // Prepare
    await writeFile(path.join(dir, 'endpoints.json'), JSON.stringify(endpoints(dir, process.pid)));

    // Act
    const target = resolveTarget({ INFERPLANE_SANDBOX_DIR: dir, INFERPLANE_LOG_LEVEL: 'DEBUG' });

    // Assess
    expect(target.kind).toBe('sandbox');
    expect(target.env).toMatchObject({ INFERPLANE_CLUSTER: 'inference', INFERPLANE_LOG_LEVEL: 'DEBUG' });
  });

  it.each([
    { name: '--project', env: {}, project: 'prod' },
    { name: 'INFERPLANE_PROJECT', env: { INFERPLANE_PROJECT: 'prod' }, project: undefined },
  ])('aims at Google Cloud with $name, even beside a sandbox', async ({ env, project }) => {
    // Prepare
    await writeFile(path.join(dir, 'endpoints.json'), JSON.stringify(endpoints(dir, process.pid)));

    // Act
    const target = resolveTarget({ ...env, INFERPLANE_SANDBOX_DIR: dir }, { project });

    // Assess
    expect(target).toMatchObject({ kind: 'cloud', env: { INFERPLANE_PROJECT: 'prod' } });
  });

  it('says a stopped sandbox is stopped, and how to start it', async () => {
    // Prepare
    await writeFile(path.join(dir, 'endpoints.json'), JSON.stringify(endpoints(dir, await deadPid())));

    // Act / Assess
    expect(() => resolveTarget({ INFERPLANE_SANDBOX_DIR: dir })).toThrow(
      /is not running .*start it with 'npm start'/,
    );
  });

  it.each([
    ['status', '--json'],
    ['tick', '--json'],
    ['plan', '--json'],
    ['alert', 'open', '--policy', 'p', '--json'],
    ['load', 'add', '--rps', '1', '--for', '1s', '--json'],
    ['logs', '--json'],
  ])('inferctl %s with no sandbox and no project says what to do, exit 1', async (...argv) => {
    // Prepare
    let out = '';
    let err = '';
    const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } };
    const saved = process.env.INFERPLANE_SANDBOX_DIR;
    const savedProject = process.env.INFERPLANE_PROJECT;
    process.env.INFERPLANE_SANDBOX_DIR = dir;
    delete process.env.INFERPLANE_PROJECT;

    // Act
    let code: number;
    try {
      code = await main(argv, io);
    } finally {
      if (saved === undefined) delete process.env.INFERPLANE_SANDBOX_DIR;
      else process.env.INFERPLANE_SANDBOX_DIR = saved;
      if (savedProject !== undefined) process.env.INFERPLANE_PROJECT = savedProject;
    }

    // Assess
    expect(code).toBe(1);
    expect(err).toMatch(/no running sandbox found .*start one with 'npm start'.*--project PROJECT/);
    expect(JSON.parse(out)).toEqual({ error: expect.stringMatching(/no running sandbox found/) });
  });
});
