/**
 * `npm run local-cloud [-- --dir DIR] [--cluster NAME] [--storage-port P ...]`: starts every local
 * server in the foreground and prints one JSON line with their endpoints. `triton` is the per-pod
 * URL template (`{pool}`, `{pod}`; pods as the Kubernetes server lists them), the value for
 * INFERPLANE_TRITON_URL.
 */
import { parseArgs } from 'node:util';
import { startLocalCloud } from './cloud';

const { values } = parseArgs({
  options: {
    dir: { type: 'string' },
    project: { type: 'string' },
    location: { type: 'string' },
    cluster: { type: 'string' },
    'repository-bucket': { type: 'string' },
    'operation-phase-ms': { type: 'string' },
    'storage-port': { type: 'string' },
    'gke-port': { type: 'string' },
    'kubernetes-port': { type: 'string' },
    'triton-port': { type: 'string' },
  },
});

const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));

const cloud = await startLocalCloud({
  dir: values.dir,
  project: values.project,
  location: values.location,
  cluster: values.cluster,
  repositoryBucket: values['repository-bucket'],
  operationPhaseMs: num(values['operation-phase-ms']),
  ports: {
    storage: num(values['storage-port']),
    gke: num(values['gke-port']),
    kubernetes: num(values['kubernetes-port']),
    triton: num(values['triton-port']),
  },
});
process.stdout.write(`${JSON.stringify(cloud.endpoints)}\n`);

const stop = () => {
  void cloud.close().then(() => process.exit(0));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
