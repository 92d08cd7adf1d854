/**
 * `npm start`: the whole control plane on this machine. Starts the local cloud (Cloud Storage,
 * GKE, Kubernetes, Cloud Monitoring, Triton), builds every function and serves each bundle with
 * the real Functions Framework, and wires every trigger as Google Cloud does: object finalize on
 * the incoming bucket (deployModel) and the security bucket (rotateSecurity); the alerts, ticks and
 * security ticks topics through the Pub/Sub emulator's push subscriptions (an in-process push with
 * the same envelope where the emulator is absent); a simulated Cloud Scheduler; an alert policy on
 * Triton's queue time notifying the alerts topic. It serves a status page and writes
 * `<dir>/endpoints.json`, which inferctl reads to find it.
 *
 *   npm start                          run until Ctrl-C (state kept in .sandbox/)
 *   npm start -- --smoke               deploy the example model once, print the result, exit 0/1
 *   npm start -- --dir DIR             keep state elsewhere; --fresh wipes it first
 *   npm start -- --tick-every 30s      the simulated scheduler's period (default 60s)
 *   npm start -- --time-offset 10h     ticks evaluate the schedules as of now + 10h
 *   npm start -- --fast                no watchable delays (GPU nodes start at once)
 *   npm start -- --no-emulator         push in-process even where the emulator exists
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { parseDuration } from '../cli/load';
import { DEFAULT_TOPICS } from '../cli/messages';
import { SANDBOX_API_VERSION, SANDBOX_ENDPOINTS_FILE, type SandboxEndpoints } from '../cli/sandbox-env';
import { assembleStatus, openStatusSource } from '../cli/status-data';
import { type LocalCloud, startLocalCloud } from '../infra/local/cloud';
import { writeKubeconfig } from '../infra/local/kubernetes/client';
import { pubsubPublisher } from '../infra/local/monitoring';
import { localStorageClient } from '../infra/local/storage/client';
import { generateLoad } from '../infra/local/triton/load';
import { loadConfig } from '../shared/runtime/config';
import { buildFunction, listFunctions } from './build';
import { ensureBuckets, LOCAL_PROJECT, localControlPlaneEnv, writeLocalPolicy } from './control-plane';
import { InProcessBus, newRunId } from './sandbox/delivery';
import {
  type Emulator,
  existingEmulator,
  gcloudHasPubSubEmulator,
  type PushSubscription,
  startEmulator,
  wireEmulator,
} from './sandbox/pubsub';
import { startScheduler } from './sandbox/scheduler';
import { startControlServer } from './sandbox/server';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const INCOMING = 'sandbox-models-incoming';
const REPOSITORY = 'sandbox-triton-repo';
const SECURITY = 'sandbox-security';
const BUCKETS = { incomingBucket: INCOMING, repositoryBucket: REPOSITORY };
const DEMO_MODEL = 'test/fixtures/onnx/add-dynamic-batch.onnx';
const TOPICS = DEFAULT_TOPICS;
const QUEUE_METRIC = 'prometheus.googleapis.com/nv_inference_queue_duration_us/counter';

/** Every function and its Pub/Sub triggers, as deployed on Google Cloud (see README). */
const FUNCTIONS: ReadonlyArray<{ name: string; topics: string[] }> = [
  { name: 'deployModel', topics: [] },
  { name: 'scaleOnAlert', topics: [TOPICS.alerts, TOPICS.ticks] },
  { name: 'applySchedules', topics: [TOPICS.ticks] },
  { name: 'rotateSecurity', topics: [TOPICS.securityTicks] },
];

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: path.join(root, '.sandbox') },
    fresh: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    fast: { type: 'boolean', default: false },
    'no-emulator': { type: 'boolean', default: false },
    'tick-every': { type: 'string', default: '60s' },
    'security-tick-every': { type: 'string', default: '10m' },
    'time-offset': { type: 'string', default: '0s' },
  },
});

// No metadata server on this machine: google-auth-library must not wait for one.
process.env.METADATA_SERVER_DETECTION ??= 'none';

const say = (line: string) => process.stdout.write(`${line}\n`);

function durationOption(name: string, raw: string, allowNegative = false): number {
  const negative = allowNegative && raw.startsWith('-');
  const text = negative ? raw.slice(1) : raw;
  if (text === '0' || text === '0s') return 0;
  try {
    return (negative ? -1 : 1) * parseDuration(text);
  } catch {
    throw new Error(
      `--${name} needs a duration such as 30s, 5m, 1h30m${allowNegative ? ' (or -2h)' : ''}, got ${JSON.stringify(raw)}`,
    );
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

/** Relays a function's JSON log lines as one readable line each, and appends them to its log file. */
function relayLogs(name: string, child: ChildProcess, logFile: string): void {
  let writing = Promise.resolve();
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      writing = writing.then(() => appendFile(logFile, `${line}\n`)).catch(() => undefined);
      try {
        const entry = JSON.parse(line) as { severity?: string; message?: string };
        say(`[${name}] ${entry.severity ?? 'INFO'} ${entry.message ?? line}`);
      } catch {
        say(`[${name}] ${line}`);
      }
    });
  }
}

/** Waits for the port to accept connections (an HTTP probe would reach the function as an event). */
async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null)
      throw new Error(`port ${port}: the function process exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not start listening`);
}

/** The Pub/Sub emulator: CI's (PUBSUB_EMULATOR_HOST), else one started here, else none. */
async function pubsubEmulator(dir: string): Promise<{ emulator?: Emulator; why?: string }> {
  if (values['no-emulator']) return { why: '--no-emulator' };
  if (process.env.PUBSUB_EMULATOR_HOST)
    return { emulator: existingEmulator(process.env.PUBSUB_EMULATOR_HOST) };
  if (values.smoke) return { why: 'the smoke run keeps to what it needs' };
  if (!gcloudHasPubSubEmulator()) return { why: "no 'gcloud beta emulators pubsub' on this machine" };
  say('Starting the Pub/Sub emulator (gcloud beta emulators pubsub)...');
  try {
    return {
      emulator: await startEmulator(
        await freePort(),
        path.join(dir, 'logs', 'pubsub-emulator.log'),
        LOCAL_PROJECT,
      ),
    };
  } catch (err) {
    return { why: (err as Error).message };
  }
}

async function main(): Promise<number> {
  const dir = path.resolve(values.dir);
  const tickEveryMs = durationOption('tick-every', values['tick-every']);
  const securityEveryMs = durationOption('security-tick-every', values['security-tick-every']);
  const offsetMs = durationOption('time-offset', values['time-offset'], true);
  if (values.fresh || values.smoke) await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'logs'), { recursive: true });

  const cloud: LocalCloud = await startLocalCloud({
    dir: path.join(dir, 'cloud'),
    repositoryBucket: REPOSITORY,
    operationPhaseMs: 200,
    tritonLoadDelayMs: 200,
    // GPU nodes come and go with the node pools, pods wait for them, the autoscaler and the HPA
    // act; at watchable speed (a GPU node starts in 20 s here, 4-9 minutes on GKE). The one-shot
    // smoke run (and --fast) keeps the same wiring with no delays.
    nodes: true,
    timings: values.smoke || values.fast ? 'instant' : 'sandbox',
    scrapeIntervalMs: 15_000,
  });
  const { emulator, why } = await pubsubEmulator(dir);
  const bus = emulator
    ? undefined
    : new InProcessBus(LOCAL_PROJECT, say, values.smoke || values.fast ? { initialBackoffMs: 200 } : {});
  const emulatorPublisher = emulator
    ? pubsubPublisher({ projectId: LOCAL_PROJECT, emulatorHost: emulator.host })
    : undefined;
  const publishRaw = async (
    topic: string,
    data: Buffer,
    attributes: Record<string, string>,
  ): Promise<void> => {
    if (bus) await bus.publish(topic, data, attributes);
    else
      await emulatorPublisher?.publish(
        topic.includes('/') ? topic : `projects/${LOCAL_PROJECT}/topics/${topic}`,
        data,
        attributes,
      );
  };
  // Alert policies notify their Pub/Sub channels, as Cloud Monitoring does: on the emulator, or in-process.
  cloud.monitoring.setPublisher(async (topic, data, attributes) => {
    const incident = (
      JSON.parse(data.toString('utf8')) as { incident?: { policy_name?: string; state?: string } }
    ).incident;
    say(
      `[monitoring] incident of ${incident?.policy_name ?? '?'} ${incident?.state ?? '?'}: notifying ${topic}`,
    );
    await publishRaw(topic, data, attributes);
  });

  const children: ChildProcess[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];
  const endpointsFile = path.join(dir, SANDBOX_ENDPOINTS_FILE);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await rm(endpointsFile, { force: true });
      for (const c of children) c.kill('SIGTERM');
      bus?.close();
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
      await emulatorPublisher?.close();
      await emulator?.stop();
      await cloud.close();
    })();
    return stopping;
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));

  try {
    const storage = localStorageClient(cloud.endpoints.storage);
    await ensureBuckets(storage, BUCKETS);
    const [securityExists] = await storage.bucket(SECURITY).exists();
    if (!securityExists) await storage.createBucket(SECURITY);
    const policyFile = path.join(dir, 'policy.yaml');
    await writeLocalPolicy(policyFile, BUCKETS, { sandbox: true });

    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
    const controlPlaneEnv: Record<string, string> = {
      ...(localControlPlaneEnv(cloud.endpoints, BUCKETS, policyFile) as Record<string, string>),
      INFERPLANE_SECURITY_BUCKET: SECURITY,
      ...(emulator ? { PUBSUB_EMULATOR_HOST: emulator.host } : {}),
    };
    const env = { ...process.env, ...controlPlaneEnv };
    const functionUrls: Record<string, string> = {};
    const ffMain = path.join(root, 'node_modules/@google-cloud/functions-framework/build/src/main.js');
    const present = new Set(await listFunctions());
    const skipped: string[] = [];
    for (const { name } of [
      ...FUNCTIONS,
      ...[...present].filter((n) => !FUNCTIONS.some((f) => f.name === n)).map((n) => ({ name: n })),
    ]) {
      if (!present.has(name)) {
        skipped.push(name);
        continue;
      }
      await buildFunction(name, pkg);
      const port = await freePort();
      const child = spawn(
        process.execPath,
        [
          ffMain,
          `--target=${name}`,
          `--source=${path.join(root, 'dist', name)}`,
          '--signature-type=cloudevent',
          `--port=${port}`,
        ],
        { env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      children.push(child);
      relayLogs(name, child, path.join(dir, 'logs', `${name}.log`));
      functionUrls[name] = `http://127.0.0.1:${port}/`;
      await waitForPort(port, child);
    }

    // What status reads is what inferctl status reads: the same config, the same report.
    const config = loadConfig(controlPlaneEnv);
    const pool = 'triton-l4-spot';
    const poolUrl = (name: string) => cloud.triton.poolUrlTemplate.replace('{pool}', name);
    const status = async () => {
      const source = await openStatusSource(config);
      try {
        return assembleStatus(await source.observe(), Date.now());
      } finally {
        await source.close().catch(() => undefined);
      }
    };
    const control = await startControlServer({
      project: LOCAL_PROJECT,
      status,
      ...(bus ? { publish: (t: string, d: Buffer, a: Record<string, string>) => bus.publish(t, d, a) } : {}),
      load: async ({ model, rps, durationMs, version }) => {
        const pools = (await status()).nodePools.map((p) => p.name);
        for (const name of [pool, ...pools.filter((p) => p !== pool)]) {
          const ready = await fetch(`${poolUrl(name)}/v2/models/${encodeURIComponent(model)}/ready`).catch(
            () => undefined,
          );
          if (ready?.status === 200)
            return generateLoad({
              url: poolUrl(name),
              model,
              rps,
              durationMs,
              ...(version ? { version } : {}),
            });
        }
        throw new Error(
          `${model} is not ready in any pool's Triton yet; upload it and wait for 'inferctl status' to say READY`,
        );
      },
      functions: functionUrls,
      log: say,
    });
    cleanups.push(() => control.close());

    // Triggers. Cloud Storage finalize, as Eventarc delivers it:
    if (functionUrls.deployModel)
      cloud.storage.addNotification({ bucket: INCOMING, url: functionUrls.deployModel });
    if (functionUrls.rotateSecurity)
      cloud.storage.addNotification({ bucket: SECURITY, url: functionUrls.rotateSecurity });
    // Pub/Sub: one subscription per (topic, function).
    const runId = newRunId();
    const subscriptions: PushSubscription[] = FUNCTIONS.filter((f) => functionUrls[f.name]).flatMap((f) =>
      f.topics.map((topic) => ({
        topic,
        subscription: `sandbox-${runId}-${f.name}-${topic}`,
        pushEndpoint: `${control.url}/push/${f.name}?topic=${topic}`,
      })),
    );
    if (emulator) {
      const wired = await wireEmulator(emulator.host, LOCAL_PROJECT, Object.values(TOPICS), subscriptions);
      cleanups.push(async () => {
        await wired.remove();
        await wired.close();
      });
    } else if (bus) {
      for (const f of FUNCTIONS) {
        const url = functionUrls[f.name];
        if (url) for (const topic of f.topics) bus.subscribe(topic, { name: f.name, url });
      }
    }

    // Managed Prometheus: scrape every Triton pod's metrics port, so queue time reaches Monitoring
    // (the deployed stack has no PodMonitoring of its own yet). Kept across restarts with the cluster.
    const ns = config.namespace;
    const store = cloud.kubernetes.store;
    if (!store.get('Namespace', '', ns)) {
      store.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, 'sandbox');
    }
    if (!store.get('PodMonitoring', ns, 'triton-sandbox')) {
      store.create(
        {
          apiVersion: 'monitoring.googleapis.com/v1',
          kind: 'PodMonitoring',
          metadata: {
            name: 'triton-sandbox',
            namespace: ns,
            labels: { 'app.kubernetes.io/managed-by': 'inferplane-sandbox' },
          },
          spec: {
            selector: { matchLabels: { 'app.kubernetes.io/name': 'triton' } },
            endpoints: [{ port: 'metrics', path: '/metrics', interval: '15s' }],
          },
        },
        'sandbox',
      );
    }

    // Cloud Monitoring: a Pub/Sub channel on the alerts topic and the queue-time policy the
    // example policy's queue-high rule matches (Monitoring keeps no state across restarts here).
    const channel = cloud.monitoring.alerts.createChannel(LOCAL_PROJECT, {
      type: 'pubsub',
      displayName: 'inferplane alerts topic',
      labels: { topic: `projects/${LOCAL_PROJECT}/topics/${TOPICS.alerts}` },
    });
    cloud.monitoring.alerts.createPolicy(LOCAL_PROJECT, {
      displayName: 'triton-queue-high',
      userLabels: { action: 'scale-out' },
      combiner: 'OR',
      conditions: [
        {
          displayName: 'queue time > 50 ms per second',
          conditionThreshold: {
            filter: `metric.type = "${QUEUE_METRIC}" AND resource.type = "prometheus_target"`,
            comparison: 'COMPARISON_GT',
            thresholdValue: 50_000,
            duration: '60s',
            trigger: { count: 1 },
            aggregations: [
              { alignmentPeriod: '60s', perSeriesAligner: 'ALIGN_RATE', crossSeriesReducer: 'REDUCE_SUM' },
            ],
          },
        },
      ],
      notificationChannels: [String(channel.name)],
      documentation: {
        content: 'Triton queues: scaleOnAlert scales the pool out.',
        mimeType: 'text/markdown',
      },
      severity: 'CRITICAL',
    });

    // Cloud Scheduler.
    if (!values.smoke) {
      const scheduler = startScheduler({
        ticksTopic: TOPICS.ticks,
        securityTopic: TOPICS.securityTicks,
        tickEveryMs,
        securityEveryMs,
        offsetMs,
        publish: publishRaw,
        log: say,
      });
      cleanups.push(async () => scheduler.stop());
    }

    const kubeconfig = path.join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfig, cloud.kubernetes);
    const endpoints: SandboxEndpoints = {
      apiVersion: SANDBOX_API_VERSION,
      pid: process.pid,
      startedAt: new Date().toISOString(),
      dir,
      env: controlPlaneEnv,
      control: control.url,
      pubsubEmulatorHost: emulator?.host ?? null,
      projectId: LOCAL_PROJECT,
      topics: { ...TOPICS },
      buckets: { incoming: INCOMING, repository: REPOSITORY, security: SECURITY, state: config.stateBucket },
      storage: cloud.endpoints.storage,
      tritonPool: cloud.triton.poolUrlTemplate,
      functions: Object.fromEntries(FUNCTIONS.map((f) => [f.name, functionUrls[f.name] ?? null])),
      logs: path.join(dir, 'logs'),
      kubeconfig,
    };
    await writeFile(endpointsFile, `${JSON.stringify(endpoints, null, 2)}\n`);

    const tritonPool = poolUrl(pool);
    say('');
    say('inferplane sandbox is up.');
    say(`  Status page    ${control.url}/   (refreshes every 3 s; JSON at ${control.url}/api/status)`);
    say(
      `  Cloud Storage  ${cloud.endpoints.storage}   buckets: ${INCOMING} (uploads), ${REPOSITORY} (Triton repository), ${SECURITY} (security bundles)`,
    );
    say(`  GKE            ${cloud.endpoints.gke}   cluster ${cloud.endpoints.cluster}`);
    say(
      `  Kubernetes     ${cloud.endpoints.kubernetes}   kubectl --kubeconfig ${kubeconfig} get deployments -A`,
    );
    say(
      `  Triton         ${cloud.endpoints.triton}   (one server per pod; ${cloud.triton.poolUrlTemplate} for a pool)`,
    );
    say(
      `  Monitoring     ${cloud.endpoints.monitoring}   (metrics, Managed Prometheus scrapes, alert policy triton-queue-high)`,
    );
    say(
      emulator
        ? `  Pub/Sub        emulator at ${emulator.host}${emulator.started ? ' (started here)' : ''}: topics ${Object.values(TOPICS).join(', ')}, push subscriptions to the functions`
        : `  Pub/Sub        no emulator (${why}): pushing in-process to the functions with the same messagePublished envelopes`,
    );
    say(
      values.smoke
        ? '  Scheduler      off in the smoke run'
        : `  Scheduler      ${TOPICS.ticks} every ${values['tick-every']}, ${TOPICS.securityTicks} every ${values['security-tick-every']}${offsetMs ? `; ticks evaluate as of now ${offsetMs > 0 ? '+' : '-'} ${values['time-offset'].replace(/^-/, '')}` : ''}`,
    );
    for (const [name, url] of Object.entries(functionUrls))
      say(`  ${name.padEnd(14)} ${url}  (Functions Framework)`);
    for (const name of skipped) say(`  ${name.padEnd(14)} skipped: functions/${name}/ does not exist yet`);
    say(`  state          ${dir}   policy: ${policyFile}`);
    say('');
    say('Deploy a model, then watch it (inferctl finds this sandbox by itself):');
    say(`  npx inferctl upload ${DEMO_MODEL} --model add`);
    say('  npx inferctl status');
    say(`  curl -sS -o /dev/null -w '%{http_code}\\n' ${tritonPool}/v2/models/add/versions/1/ready`);
    say('');

    if (!values.smoke) {
      await new Promise(() => undefined); // until Ctrl-C
      return 0;
    }
    // Smoke: the demo upload must end with the model ready in its pool's Triton, and the status
    // report must say so.
    await storage.bucket(INCOMING).upload(path.join(root, DEMO_MODEL), { destination: 'add/1/model.onnx' });
    await cloud.storage.notificationsDelivered();
    for (let i = 0; i < 600; i++) {
      const res = await fetch(`${tritonPool}/v2/models/add/versions/1/ready`);
      if (res.status === 200) {
        say('smoke: add version 1 is READY in Triton pool triton-l4-spot');
        const report = (await (await fetch(`${control.url}/api/status`)).json()) as {
          models: Array<{ name: string }>;
        };
        say(`smoke: the status report lists ${report.models.map((m) => m.name).join(', ') || 'no model'}`);
        return 0;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    say('smoke: the demo model did not become ready; see the function logs above');
    return 1;
  } catch (err) {
    await stop();
    throw err;
  } finally {
    if (values.smoke) await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`sandbox: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
