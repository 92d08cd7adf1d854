/**
 * deployModel and rotateSecurity aimed at one local cloud, in-process, from one configuration and
 * one policy file, with the production dependencies (found through the GKE API, the local access
 * token), the ledger's log and event sinks, memory idempotency, and a clock the test can move.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { LocalCloud } from '../../infra/local/cloud';
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { localStorageClient } from '../../infra/local/storage/client';
import { buildDeployModelDeps } from '../../shared/deploy/deps';
import type { DeployModelDeps } from '../../shared/deploy/handler';
import { loadPolicy } from '../../shared/policy';
import { type Clock, systemClock } from '../../shared/runtime/clock';
import { type Config, loadConfig } from '../../shared/runtime/config';
import type { IncomingCloudEvent } from '../../shared/runtime/function';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { buildRotateSecurityDeps } from '../../shared/security/deps';
import { cryptoKeyMaterial, type RotateSecurityDeps } from '../../shared/security/handler';
import { SecretLedger } from './secret-ledger';

/** The wall clock plus an offset the test moves (rotation periods are days long). */
export class OffsetClock implements Clock {
  offsetMs = 0;
  nowMs(): number {
    return systemClock.nowMs() + this.offsetMs;
  }
  sleep(ms: number): Promise<void> {
    return systemClock.sleep(ms);
  }
  advanceDays(days: number): void {
    this.offsetMs += days * 86_400_000;
  }
  advanceMinutes(minutes: number): void {
    this.offsetMs += minutes * 60_000;
  }
}

export interface SecurityHarness {
  config: Config;
  deploy: DeployModelDeps;
  rotate: RotateSecurityDeps;
  ledger: SecretLedger;
  clock: OffsetClock;
  policyPath: string;
  /** Rebuilds both deps from a new policy file (the warm-instance refresh, made at once). */
  setPolicy(securityYaml: string): Promise<void>;
}

export interface SecurityHarnessOptions {
  buckets: { incoming: string; repository: string; security: string };
  /** YAML of the policy's `security:` section (indented by two spaces under `security:`). */
  security?: string;
  ledger?: SecretLedger;
}

function policyText(buckets: SecurityHarnessOptions['buckets'], security: string): string {
  return [
    'apiVersion: inferplane.dev/v1',
    'kind: ControlPlanePolicy',
    'cluster: { project: local-project, name: inference, namespace: triton,',
    `  repositoryBucket: ${buckets.repository}, incomingBucket: ${buckets.incoming} }`,
    'guardrails: { maxGpusTotal: 8, maxGpusPerPool: 8, maxNodes: 8, maxDollarsPerHour: 100 }',
    ...(security ? ['security:', security] : []),
    '',
  ].join('\n');
}

export async function localSecurityHarness(
  cloud: LocalCloud,
  options: SecurityHarnessOptions,
): Promise<SecurityHarness> {
  const { buckets } = options;
  const storage = localStorageClient(cloud.endpoints.storage);
  for (const b of [buckets.incoming, buckets.repository, buckets.security]) await storage.createBucket(b);
  const dir = await mkdtemp(path.join(tmpdir(), 'inferplane-security-'));
  const policyPath = path.join(dir, 'policy.yaml');
  await writeFile(policyPath, policyText(buckets, options.security ?? ''));
  const config = loadConfig({
    INFERPLANE_PROJECT: 'local-project',
    INFERPLANE_CLUSTER: 'inference',
    INFERPLANE_REPOSITORY_BUCKET: buckets.repository,
    INFERPLANE_POLICY: policyPath,
    INFERPLANE_STORAGE_ENDPOINT: cloud.endpoints.storage,
    INFERPLANE_GKE_ENDPOINT: cloud.endpoints.gke,
    INFERPLANE_ACCESS_TOKEN: LOCAL_ACCESS_TOKEN,
    INFERPLANE_TRITON_URL: cloud.endpoints.triton,
    INFERPLANE_SECURITY_BUCKET: buckets.security,
  });
  const ledger = options.ledger ?? new SecretLedger();
  const clock = new OffsetClock();
  const shared = { log: ledger.logger(), publisher: ledger.publisher(), clock };
  const harness: SecurityHarness = {
    config,
    ledger,
    clock,
    policyPath,
    deploy: { ...(await buildDeployModelDeps(config)), ...shared, idempotency: new MemoryIdempotencyStore() },
    rotate: {
      ...(await buildRotateSecurityDeps(config)),
      ...shared,
      idempotency: new MemoryIdempotencyStore(),
      keyMaterial: ledger.keyMaterial(cryptoKeyMaterial),
    },
    setPolicy: async (security) => {
      await writeFile(policyPath, policyText(buckets, security));
      const policy = loadPolicy(policyText(buckets, security));
      harness.deploy = { ...harness.deploy, policy };
      harness.rotate = { ...harness.rotate, policy };
    },
  };
  return harness;
}

let tick = 0;

/** A Cloud Scheduler tick as Eventarc delivers it (Pub/Sub messagePublished). */
export function schedulerTick(payload: Record<string, unknown> = {}): IncomingCloudEvent {
  tick += 1;
  const id = `tick-${Date.now()}-${tick}`;
  const body = { apiVersion: 'inferplane.dev/scheduler/v1', command: 'rotate-security', ...payload };
  return {
    id,
    source: '//pubsub.googleapis.com/projects/local-project/topics/inferplane-scheduler',
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    specversion: '1.0',
    data: {
      subscription: 'projects/local-project/subscriptions/eventarc-rotate-security',
      message: {
        data: Buffer.from(JSON.stringify(body)).toString('base64'),
        attributes: { 'inferplane-job': 'rotate-security-daily' },
        messageId: id,
        publishTime: new Date().toISOString(),
      },
    },
  };
}

/** A Cloud Storage finalize event for an object as it now is. */
export function objectFinalized(info: {
  bucket: string;
  name: string;
  generation: string;
  size: string | number;
}): IncomingCloudEvent {
  return {
    id: `fin-${info.bucket}-${info.name}-${info.generation}`,
    source: `//storage.googleapis.com/projects/_/buckets/${info.bucket}`,
    type: 'google.cloud.storage.object.v1.finalized',
    specversion: '1.0',
    subject: `objects/${info.name}`,
    data: {
      bucket: info.bucket,
      name: info.name,
      generation: info.generation,
      metageneration: '1',
      size: String(info.size),
      contentType: 'application/yaml',
      timeCreated: new Date().toISOString(),
      updated: new Date().toISOString(),
    },
  };
}
