/**
 * `npm start`: the whole control plane on this machine. Starts the local cloud (Cloud Storage,
 * GKE, Kubernetes, Triton), builds every function and serves each bundle with the real Functions
 * Framework, and wires the incoming bucket's finalize notifications to deployModel, as Eventarc
 * would. Upload a model into the incoming bucket and watch it get served.
 *
 *   npm start                   run until Ctrl-C (state kept in .sandbox/)
 *   npm start -- --smoke        deploy the example model once, print the result, exit 0/1
 *   npm start -- --dir DIR      keep state elsewhere; --fresh wipes it first
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type LocalCloud, startLocalCloud } from '../infra/local/cloud';
import { writeKubeconfig } from '../infra/local/kubernetes/client';
import { pubsubPublisher } from '../infra/local/monitoring';
import { localStorageClient } from '../infra/local/storage/client';
import { buildFunction, listFunctions } from './build';
import { ensureBuckets, LOCAL_PROJECT, localControlPlaneEnv, writeLocalPolicy } from './control-plane';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const INCOMING = 'sandbox-models-incoming';
const REPOSITORY = 'sandbox-triton-repo';
const BUCKETS = { incomingBucket: INCOMING, repositoryBucket: REPOSITORY };
const DEMO_MODEL = 'test/fixtures/onnx/add-dynamic-batch.onnx';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: path.join(root, '.sandbox') },
    fresh: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
  },
});

const say = (line: string) => process.stdout.write(`${line}\n`);

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

/** Relays a function's JSON log lines as one readable line each. */
function relayLogs(name: string, child: ChildProcess, logFile: string): void {
  const lines: string[] = [];
  const flush = () => writeFile(logFile, lines.join('\n')).catch(() => undefined);
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      void flush();
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

async function main(): Promise<number> {
  const dir = path.resolve(values.dir);
  if (values.fresh || values.smoke) await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'logs'), { recursive: true });

  const cloud: LocalCloud = await startLocalCloud({
    dir: path.join(dir, 'cloud'),
    repositoryBucket: REPOSITORY,
    operationPhaseMs: 200,
    tritonLoadDelayMs: 200,
    // GPU nodes come and go with the node pools, pods wait for them, the autoscaler and the HPA
    // act; at watchable speed (a GPU node starts in 20 s here, 4-9 minutes on GKE). The one-shot
    // smoke run keeps the same wiring with no delays.
    nodes: true,
    timings: values.smoke ? 'instant' : 'sandbox',
    scrapeIntervalMs: 15_000,
  });
  // Alert policies created against the local Monitoring server notify their Pub/Sub channels on
  // the emulator, as Cloud Monitoring does; without the emulator, incidents are only recorded.
  const alerts = process.env.PUBSUB_EMULATOR_HOST ? pubsubPublisher({ projectId: LOCAL_PROJECT }) : undefined;
  if (alerts) cloud.monitoring.setPublisher(alerts.publish);
  const children: ChildProcess[] = [];
  const stop = async () => {
    for (const c of children) c.kill('SIGTERM');
    await alerts?.close();
    await cloud.close();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(0)));
  process.once('SIGTERM', () => void stop().then(() => process.exit(0)));

  try {
    const storage = localStorageClient(cloud.endpoints.storage);
    await ensureBuckets(storage, BUCKETS);
    const policyFile = path.join(dir, 'policy.yaml');
    await writeLocalPolicy(policyFile, BUCKETS);

    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'));
    const env = { ...process.env, ...localControlPlaneEnv(cloud.endpoints, BUCKETS, policyFile) };
    const functionUrls: Record<string, string> = {};
    const ffMain = path.join(root, 'node_modules/@google-cloud/functions-framework/build/src/main.js');
    for (const name of await listFunctions()) {
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
    if (functionUrls.deployModel)
      cloud.storage.addNotification({ bucket: INCOMING, url: functionUrls.deployModel });

    const pool = 'triton-l4-spot';
    // The pool's Service route: it answers from the pool's first pod (503 until one has started).
    const tritonPool = cloud.triton.poolUrlTemplate.replace('{pool}', pool);
    say('');
    say('inferplane sandbox is up.');
    say(
      `  Cloud Storage  ${cloud.endpoints.storage}   buckets: ${INCOMING} (uploads), ${REPOSITORY} (Triton repository)`,
    );
    say(`  GKE            ${cloud.endpoints.gke}   cluster ${cloud.endpoints.cluster}`);
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfig, cloud.kubernetes);
    say(
      `  Kubernetes     ${cloud.endpoints.kubernetes}   kubectl --kubeconfig ${kubeconfig} get deployments -A`,
    );
    say(
      `  Triton         ${cloud.endpoints.triton}   (one server per pod; ${cloud.triton.poolUrlTemplate} for a pool)`,
    );
    say(
      `  Monitoring     ${cloud.endpoints.monitoring}   (metrics, Managed Prometheus scrapes, alert policies)`,
    );
    for (const [name, url] of Object.entries(functionUrls))
      say(`  ${name.padEnd(14)} ${url}  (Functions Framework)`);
    say(`  state          ${dir}   policy: ${policyFile}`);
    say('');
    say('Deploy a model: upload it to the incoming bucket as <model>/<version>/model.onnx, e.g.');
    say(
      `  curl -sS -X POST --data-binary @${DEMO_MODEL} "${cloud.endpoints.storage}/upload/storage/v1/b/${INCOMING}/o?uploadType=media&name=add/1/model.onnx"`,
    );
    say(`  curl -sS -o /dev/null -w '%{http_code}\\n' ${tritonPool}/v2/models/add/versions/1/ready`);
    say('');

    if (!values.smoke) {
      await new Promise(() => undefined); // until Ctrl-C
      return 0;
    }
    // Smoke: the demo upload must end with the model ready in its pool's Triton.
    await storage.bucket(INCOMING).upload(path.join(root, DEMO_MODEL), { destination: 'add/1/model.onnx' });
    await cloud.storage.notificationsDelivered();
    for (let i = 0; i < 600; i++) {
      const res = await fetch(`${tritonPool}/v2/models/add/versions/1/ready`);
      if (res.status === 200) {
        say('smoke: add version 1 is READY in Triton pool triton-l4-spot');
        return 0;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    say('smoke: the demo model did not become ready; see the function logs above');
    return 1;
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
