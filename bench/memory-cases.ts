/**
 * Memory cases: each runs alone in a child process (memory-child.ts), so its peak RSS is its own.
 * A case gets where the model lives and returns how many bytes it fetched. Add a case here and
 * memory.bench.ts runs it on every model size.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_ACCESS_TOKEN } from '../infra/local/credentials';
import { startGkeServer } from '../infra/local/gke';
import { startKubernetesServer } from '../infra/local/kubernetes';
import { tritonProcesses } from '../infra/local/pod-triton';
import { localStorageClient } from '../infra/local/storage/client';
import { startTritonFleet } from '../infra/local/triton/fleet';
import { ensureBuckets, LOCAL_CLUSTER, writeLocalPolicy } from '../scripts/control-plane';
import { gcsByteSource } from '../shared/adapters/storage';
import { buildDeployModelDeps } from '../shared/deploy/deps';
import { deployModelFunction } from '../shared/deploy/function';
import { readOnnxSignature } from '../shared/onnx/reader';
import { loadConfig } from '../shared/runtime/config';
import { invoke } from '../shared/runtime/function';
import { createMemoryLogger } from '../shared/runtime/log';
import { deployEnv, finalizedEvent } from './deploy-env';
import { removeAll } from './models';

export interface MemoryCaseContext {
  /** Local Cloud Storage server URL (for localStorageClient). */
  storageUrl: string;
  bucket: string;
  object: string;
  /** Object size in bytes. */
  size: number;
}

export type MemoryCase = (ctx: MemoryCaseContext) => Promise<{ bytesRead: number }>;

export const memoryCases: Record<string, MemoryCase> = {
  'read signature': async (ctx) => {
    const file = localStorageClient(ctx.storageUrl).bucket(ctx.bucket).file(ctx.object);
    const source = gcsByteSource(file);
    const sig = await readOnnxSignature(source);
    if (sig.inputs.length === 0) throw new Error(`${ctx.object}: no inputs read`);
    return { bytesRead: source.bytesRead };
  },

  /**
   * The whole deployModel invocation on one upload: signature read, server-side copy into the
   * repository, GPU pool, Triton stack, load and readiness. The GKE, Kubernetes and Triton servers
   * run in this child (the same cost for both model sizes); the storage server is the parent's,
   * so the model bytes are copied there (a server-side copy: none pass through the function).
   */
  'deploy model (deployModel end to end)': async (ctx) => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-deploy-'));
    // Fresh buckets per child: a repeat must deploy again, not find version 1 already serving.
    const suffix = randomBytes(4).toString('hex');
    const buckets = { incomingBucket: `bench-in-${suffix}`, repositoryBucket: `bench-repo-${suffix}` };
    const gke = await startGkeServer({ dir: join(dir, 'gke'), cluster: LOCAL_CLUSTER, operationPhaseMs: 0 });
    const kubernetes = await startKubernetesServer({ tokens: [LOCAL_ACCESS_TOKEN] });
    // As GKE does, the cluster reports its apiserver; the control plane finds it there.
    gke.setKubernetesEndpoint({
      endpoint: kubernetes.endpoint,
      caCertificate: kubernetes.caCertificateBase64,
    });
    const triton = await startTritonFleet({ storageUrl: ctx.storageUrl, loadDelayMs: 0 });
    // As in the cluster: each pod the Deployment runs gets its own Triton, started from its args.
    kubernetes.onChange(() => {
      void triton.sync(tritonProcesses(kubernetes.pods(), (kind) => kubernetes.objects(kind)));
    });
    try {
      const storage = localStorageClient(ctx.storageUrl);
      await ensureBuckets(storage, buckets);
      const object = 'big/1/model.onnx';
      const [copied] = await storage
        .bucket(ctx.bucket)
        .file(ctx.object)
        .copy(storage.bucket(buckets.incomingBucket).file(object));
      const [metadata] = await copied.getMetadata();

      const policyFile = join(dir, 'policy.yaml');
      await writeLocalPolicy(policyFile, buckets);
      const env = deployEnv(
        { storage: ctx.storageUrl, gke: gke.url, kubernetes: kubernetes.url, triton: triton.urlTemplate },
        buckets,
        policyFile,
      );
      // google-auth-library reads this one from the process environment, not from the config.
      process.env.METADATA_SERVER_DETECTION = env.METADATA_SERVER_DETECTION;
      const memory = createMemoryLogger();
      const deps = { ...(await buildDeployModelDeps(loadConfig(env))), log: memory.logger };

      // The first delivery places the pool and publishes; the pool's first pod is not ready yet,
      // so the platform redelivers (as Eventarc does) and the next one loads it.
      let outcome: Awaited<ReturnType<typeof invoke>> | undefined;
      for (let attempt = 0; attempt < 5 && outcome?.status !== 'applied'; attempt++) {
        outcome = await invoke(deployModelFunction, deps, finalizedEvent({ ...metadata })).catch(
          () => undefined,
        );
        await triton.idle();
      }
      if (outcome?.status !== 'applied') {
        throw new Error(`deployModel ${outcome?.status ?? 'failed'}: ${outcome?.message ?? 'no outcome'}`);
      }
      const pool = outcome.details?.pool;
      if (typeof pool !== 'string') throw new Error('deployModel outcome names no pool');
      // The pool's Service route answers from the pod the deployment loaded the model on.
      const ready = await fetch(
        `${triton.poolUrlTemplate.replace('{pool}', pool)}/v2/models/big/versions/1/ready`,
      );
      if (ready.status !== 200) throw new Error(`big version 1 is not READY in ${pool}: ${ready.status}`);
      const read = memory.entries.find((e) => e.message === 'model signature read');
      if (typeof read?.bytesRead !== 'number') throw new Error('no "model signature read" log entry');
      return { bytesRead: read.bytesRead };
    } finally {
      await Promise.all([triton.close(), kubernetes.close(), gke.close()]);
      await removeAll([dir]);
    }
  },
};
