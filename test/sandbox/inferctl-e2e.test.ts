/**
 * The sandbox as a newcomer drives it: `npm start` (here with --fast: no watchable delays), then
 * inferctl only, found by the sandbox's endpoints.json. The three jobs on the demo model's pool:
 * deployModel serves it; an alert scales it out and its close (after the sandbox's 15 s cooldown)
 * back; a night tick takes it to zero and a morning tick restores it exactly. A restart on the
 * persisted state serves what the registry says is serving.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
let sandbox: ChildProcess | undefined;
let output = '';

async function startSandbox(): Promise<void> {
  output = '';
  const child = spawn(
    process.execPath,
    // The scheduler's own ticks (real time) stay out of the way: the test ticks with --at.
    ['--import', 'tsx', 'scripts/sandbox.ts', '--fast', '--no-emulator', '--tick-every', '24h', '--dir', dir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString('utf8');
  });
  sandbox = child;
  for (let i = 0; i < 1200 && !output.includes('inferplane sandbox is up.'); i++) {
    if (child.exitCode !== null) throw new Error(`the sandbox exited with ${child.exitCode}:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(output, output).toContain('inferplane sandbox is up.');
}

async function stopSandbox(): Promise<number | null> {
  const child = sandbox;
  sandbox = undefined;
  if (!child || child.exitCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  child.kill('SIGTERM');
  return exited;
}

function inferctl(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, INFERPLANE_SANDBOX_DIR: dir };
  delete env.INFERPLANE_PROJECT;
  const child = spawn(process.execPath, ['bin/inferctl.js', ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

interface Autoscaling {
  enabled?: boolean;
  minNodeCount?: number;
  maxNodeCount?: number;
  totalMinNodeCount?: number;
  totalMaxNodeCount?: number;
}

interface Status {
  models: Array<{ name: string; versions: Array<{ version: number; state: string }> }>;
  nodePools: Array<{ name: string; nodeCount: number | null; autoscaling: Autoscaling | null }>;
  deployments: Array<{ name: string; replicas: number }>;
  hpas: Array<{ name: string; minReplicas: number; maxReplicas: number }>;
  decisions: Array<{ time: string; function: string; target: string; action: string; reason: string }>;
  savings: { gpuHours: number; dollars: number };
}

/** The demo model's pool: what the three jobs act on, as `inferctl status --json` reports it. */
const POOL = 'triton-l4-spot';

function capacity(s: Status) {
  const pool = s.nodePools.find((p) => p.name === POOL);
  const hpa = s.hpas.find((h) => h.name === POOL);
  const deployment = s.deployments.find((d) => d.name === POOL);
  if (!pool || !hpa || !deployment)
    throw new Error(`no ${POOL} pool, HPA or Deployment in ${JSON.stringify(s)}`);
  const a = pool.autoscaling ?? {};
  return {
    replicas: deployment.replicas,
    minReplicas: hpa.minReplicas,
    maxReplicas: hpa.maxReplicas,
    autoscaling: pool.autoscaling,
    minNodes: a.totalMinNodeCount ?? a.minNodeCount ?? 0,
    maxNodes: a.totalMaxNodeCount ?? a.maxNodeCount ?? 0,
  };
}

/** `inferctl status --json`, as a user reads it. */
async function printedStatus(): Promise<Status> {
  const printed = await inferctl('status', '--json');
  expect(printed.code, printed.stderr).toBe(0);
  return JSON.parse(printed.stdout) as Status;
}

/** Runs `act` (a tick, say) and reads `inferctl status --json` until it matches (bounded). */
async function printedStatusUntil(
  check: (s: Status) => boolean,
  act: () => Promise<unknown> = async () => undefined,
  tries = 60,
): Promise<Status> {
  let last: Status | undefined;
  for (let i = 0; i < tries; i++) {
    await act();
    last = await printedStatus();
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(`inferctl status --json never matched; last: ${JSON.stringify(last)}\n${output}`);
}

/** Times relative to tomorrow 00:00 UTC, against the sandbox's window Mon-Sun 22:00-06:00 UTC. */
function tomorrowAt(hours: number): string {
  const now = new Date();
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return new Date(midnight + hours * 3_600_000).toISOString().replace('.000Z', 'Z');
}

async function tick(at: string): Promise<void> {
  const r = await inferctl('tick', '--at', at, '--json');
  expect(r.code, `${r.stderr}\n${output}`).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ topic: 'inferplane-ticks', message: { at } });
}

/** Polls the sandbox's /api/status (the report `inferctl status --json` prints) until it matches. */
async function statusUntil(check: (s: Status) => boolean): Promise<Status> {
  const { control } = JSON.parse(await readFile(path.join(dir, 'endpoints.json'), 'utf8')) as {
    control: string;
  };
  let last: Status | undefined;
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${control}/api/status`).catch(() => undefined);
    if (res?.ok) {
      last = (await res.json()) as Status;
      if (check(last)) return last;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`status never matched; last: ${JSON.stringify(last)}\n${output}`);
}

const ready = (s: Status) =>
  s.models.some((m) => m.name === 'add' && m.versions.some((v) => v.version === 1 && v.state === 'READY'));

describe('npm start, then inferctl only', () => {
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'inferplane-e2e-'));
    await startSandbox();
  }, 240_000);

  afterAll(async () => {
    await stopSandbox();
    await rm(dir, { recursive: true, force: true });
  });

  it('deploys, scales out on an alert and back, takes the pool down for a night and restores it exactly; the page, logs, a restart', async () => {
    // Act: upload
    const upload = await inferctl(
      'upload',
      'test/fixtures/onnx/add-dynamic-batch.onnx',
      '--model',
      'add',
      '--json',
    );

    // Assess: the model is served and reported
    expect(upload.code, upload.stderr).toBe(0);
    expect(JSON.parse(upload.stdout)).toMatchObject({
      model: 'add',
      version: 1,
      objects: [{ name: 'add/1/model.onnx' }],
    });
    await statusUntil(ready);
    const printed = await inferctl('status', '--json');
    expect(printed.code, printed.stderr).toBe(0);
    const status = JSON.parse(printed.stdout) as Status;
    expect(ready(status)).toBe(true);
    expect(Object.keys(status)).toEqual([
      'models',
      'nodePools',
      'deployments',
      'hpas',
      'networkPolicies',
      'decisions',
      'savings',
    ]);
    expect(status.deployments.map((d) => d.name)).toContain('triton-l4-spot');

    // Arrange: what the pool runs before the jobs
    const baseline = capacity(status);
    const noon = tomorrowAt(12); // outside the window: applySchedules leaves the pool alone

    // Act: an incident of the sandbox's alert policy opens
    const open = await inferctl(
      'alert',
      'open',
      '--policy',
      'triton-queue-high',
      '--label',
      'action=scale-out',
    );
    expect(open.code, open.stderr).toBe(0);

    // Assess: scaleOnAlert scaled the pool out (HPA bounds and the pool's autoscaling maximum)
    const out = capacity(await printedStatusUntil((s) => capacity(s).maxReplicas > baseline.maxReplicas));
    expect(out.maxNodes).toBeGreaterThan(baseline.maxNodes);
    expect(out.minReplicas).toBeGreaterThan(baseline.minReplicas);

    // Act: the incident closes (within the sandbox's 15 s cooldown: coalesced), then ticks
    const close = await inferctl(
      'alert',
      'close',
      '--policy',
      'triton-queue-high',
      '--label',
      'action=scale-out',
    );
    expect(close.code, close.stderr).toBe(0);
    expect(close.stdout).toContain(open.stdout.match(/incident (\S+)/)?.[1] ?? 'the same incident');

    // Assess: back to the baseline once the cooldown is over (a tick acts on the waiting close)
    const restored = await printedStatusUntil(
      (s) => {
        const c = capacity(s);
        return c.maxReplicas === baseline.maxReplicas && c.minReplicas === baseline.minReplicas;
      },
      () => tick(noon),
    );
    expect(capacity(restored).autoscaling).toEqual(baseline.autoscaling);
    expect(
      restored.decisions.filter((d) => d.function === 'scaleOnAlert' && d.target === POOL).length,
    ).toBeGreaterThan(0);

    // Act: a tick inside tomorrow night's window
    const beforeNight = capacity(await printedStatus());
    await tick(tomorrowAt(23));

    // Assess: the Deployment at 0 replicas, the pool's autoscaling minimum at 0, the decision listed
    const night = await printedStatusUntil((s) => capacity(s).replicas === 0 && capacity(s).minNodes === 0);
    expect(night.decisions[0]).toMatchObject({
      function: 'applySchedules',
      target: POOL,
      action: 'scale-down',
      reason: expect.stringContaining('sandbox-nights'),
    });
    expect(capacity(night).maxNodes).toBe(beforeNight.maxNodes);

    // Act / Assess: a later tick holds the night, and the night has saved GPU-hours
    await tick(tomorrowAt(25));
    const later = await printedStatus();
    expect(capacity(later).replicas).toBe(0);
    expect(later.savings.gpuHours).toBeGreaterThan(0);
    expect(later.savings.dollars).toBeGreaterThan(0);

    // Act: a tick the morning after
    const morning = tomorrowAt(31);

    // Assess: replicas, HPA bounds and the pool exactly as before the night
    const day = await printedStatusUntil(
      (s) => capacity(s).replicas === beforeNight.replicas && capacity(s).minNodes === beforeNight.minNodes,
      () => tick(morning),
    );
    expect(capacity(day)).toEqual(beforeNight);
    expect(day.decisions.find((d) => d.function === 'applySchedules')).toMatchObject({
      target: POOL,
      action: expect.stringMatching(/restore$/),
    });
    expect(day.savings.gpuHours).toBe(0);

    // Act / Assess: load on the sandbox's Triton
    const load = await inferctl('load', 'add', '--rps', '20', '--for', '1s', '--json');
    expect(load.code, load.stderr).toBe(0);
    expect(JSON.parse(load.stdout)).toMatchObject({ failed: 0 });

    // Act / Assess: the status page shows what status shows
    const endpoints = JSON.parse(await readFile(path.join(dir, 'endpoints.json'), 'utf8')) as {
      control: string;
    };
    const page = await (await fetch(`${endpoints.control}/`)).text();
    expect(page).toContain('<td>add</td><td>1</td><td>READY</td>');
    expect(page).toContain('triton-l4-spot');
    expect(page).toMatch(/id="gpu-hours">[0-9.]+</);
    const fragment = await fetch(`${endpoints.control}/?fragment=1`);
    expect(fragment.status).toBe(200);
    expect(await fragment.text()).not.toContain('<html');

    // Act / Assess: logs and the plan find the sandbox too
    const logs = await inferctl('logs', '--function', 'deployModel');
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain('deployed add version 1 on triton-l4-spot');
    const plan = await inferctl('plan', '--json');
    expect([0, 3], plan.stderr).toContain(plan.code);

    // Act: stop, then ask
    expect(await stopSandbox()).toBe(0);
    const stopped = await inferctl('status');

    // Assess
    expect(existsSync(path.join(dir, 'endpoints.json'))).toBe(false);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/start one with 'npm start'/);

    // Act: a second start on the persisted state, and the README's upload again
    await startSandbox();
    const again = await inferctl(
      'upload',
      'test/fixtures/onnx/add-dynamic-batch.onnx',
      '--model',
      'add',
      '--version',
      '1',
    );
    expect(again.code, again.stderr).toBe(0);
    const pool = /(http:\/\/\S+\/pools\/triton-l4-spot)\/v2\/models\/add\/versions\/1\/ready/.exec(
      output,
    )?.[1];

    // Assess: the registry still says READY and Triton serves it
    await statusUntil(ready);
    let code = 0;
    for (let i = 0; i < 100 && code !== 200; i++) {
      code = (await fetch(`${pool}/v2/models/add/versions/1/ready`)).status;
      if (code !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(code, output).toBe(200);
  }, 480_000);
});
