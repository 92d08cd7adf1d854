/**
 * The Pub/Sub emulator for the sandbox: started from the Cloud SDK (`gcloud beta emulators pubsub`)
 * unless PUBSUB_EMULATOR_HOST names one already running (CI starts one), and wired with the
 * official client: the control plane's topics, and one push subscription per (topic, function)
 * whose endpoint is the sandbox's Eventarc stand-in.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { openSync } from 'node:fs';
import { PubSub } from '@google-cloud/pubsub';

export interface Emulator {
  host: string;
  /** Whether this sandbox started it (and stops it). */
  started: boolean;
  stop(): Promise<void>;
}

export function gcloudHasPubSubEmulator(): boolean {
  const r = spawnSync('gcloud', ['beta', 'emulators', 'pubsub', '--help'], {
    stdio: 'ignore',
    timeout: 20_000,
  });
  return r.status === 0;
}

async function answers(host: string): Promise<boolean> {
  try {
    return (await fetch(`http://${host}/`)).ok;
  } catch {
    return false;
  }
}

export async function startEmulator(port: number, logFile: string, project: string): Promise<Emulator> {
  const host = `127.0.0.1:${port}`;
  const out = openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    'gcloud',
    ['beta', 'emulators', 'pubsub', 'start', `--host-port=${host}`, `--project=${project}`],
    { detached: true, stdio: ['ignore', out, out] },
  );
  const stop = async () => {
    if (child.pid === undefined || child.exitCode !== null) return;
    try {
      process.kill(-child.pid, 'SIGTERM'); // gcloud runs the emulator (java) as its child
    } catch {
      child.kill('SIGTERM');
    }
  };
  for (let i = 0; i < 240; i++) {
    if (child.exitCode !== null) break;
    if (await answers(host)) return { host, started: true, stop };
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`the Pub/Sub emulator did not start on ${host}; see ${logFile}`);
}

export function existingEmulator(host: string): Emulator {
  return { host, started: false, stop: async () => undefined };
}

export interface PushSubscription {
  topic: string;
  subscription: string;
  pushEndpoint: string;
}

/** Creates the topics (kept if they exist) and the push subscriptions; `remove` deletes the subscriptions. */
export async function wireEmulator(
  host: string,
  project: string,
  topics: readonly string[],
  subscriptions: readonly PushSubscription[],
): Promise<{ remove(): Promise<void>; close(): Promise<void> }> {
  const pubsub = new PubSub({ projectId: project, apiEndpoint: host, emulatorMode: true });
  for (const t of topics) {
    const [exists] = await pubsub.topic(t).exists();
    if (!exists)
      await pubsub.createTopic(t).catch((err: { code?: number }) => {
        if (err.code !== 6) throw err; // ALREADY_EXISTS: a concurrent sandbox made it
      });
  }
  for (const s of subscriptions) {
    const sub = pubsub.subscription(s.subscription);
    const [exists] = await sub.exists();
    if (exists) await sub.delete();
    await pubsub.topic(s.topic).createSubscription(s.subscription, {
      pushConfig: { pushEndpoint: s.pushEndpoint },
      ackDeadlineSeconds: 600,
      retryPolicy: { minimumBackoff: { seconds: 1 }, maximumBackoff: { seconds: 60 } },
    });
  }
  return {
    remove: async () => {
      for (const s of subscriptions)
        await pubsub
          .subscription(s.subscription)
          .delete()
          .catch(() => undefined);
    },
    close: () => pubsub.close(),
  };
}
