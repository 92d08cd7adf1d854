/**
 * The official Pub/Sub emulator for tests. Uses PUBSUB_EMULATOR_HOST when CI already started one;
 * otherwise starts its own where the Cloud SDK has it; otherwise reports why it is absent, so the
 * test can skip with that reason printed rather than pass silently.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:net';

export type Emulator = { host: string; stop(): Promise<void> };

export function emulatorAbsentReason(): string | undefined {
  if (process.env.PUBSUB_EMULATOR_HOST) return undefined;
  try {
    execFileSync('gcloud', ['beta', 'emulators', 'pubsub', '--help'], { stdio: 'ignore', timeout: 60_000 });
    return undefined;
  } catch {
    return 'the Pub/Sub emulator is absent (no `gcloud beta emulators pubsub` on this machine): Pub/Sub tests skipped';
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

async function waitReady(host: string, child: ChildProcess | undefined): Promise<void> {
  for (let i = 0; i < 240; i++) {
    if (child && child.exitCode !== null) throw new Error(`Pub/Sub emulator exited with ${child.exitCode}`);
    try {
      const res = await fetch(`http://${host}/`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Pub/Sub emulator at ${host} did not become ready`);
}

export async function startPubSubEmulator(): Promise<Emulator> {
  const existing = process.env.PUBSUB_EMULATOR_HOST;
  if (existing) {
    await waitReady(existing, undefined);
    return { host: existing, stop: async () => {} };
  }
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const child = spawn(
    'gcloud',
    ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, '--project=local-project'],
    {
      stdio: 'ignore',
      detached: true,
    },
  );
  await waitReady(host, child);
  return {
    host,
    stop: async () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}
