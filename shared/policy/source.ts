/**
 * Where the policy in force comes from: a path or a gs:// URI, checked against the environment,
 * re-read on warm instances when the file changes.
 */
import { readFile, stat } from 'node:fs/promises';
import type { ObjectStore } from '../ports/storage';
import type { Clock } from '../runtime/clock';
import type { Config } from '../runtime/config';
import { ConfigurationError, errorMessage } from '../runtime/errors';
import type { Logger } from '../runtime/log';
import { loadPolicy, type Policy } from '.';

/** Where the policy file is, and a cheap version of it (generation or mtime) to notice edits. */
async function policyVersion(config: Config, objects: ObjectStore): Promise<string | undefined> {
  const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(config.policy);
  if (gs) return (await objects.stat({ bucket: gs[1]!, name: gs[2]! }))?.generation;
  try {
    const info = await stat(config.policy);
    return `${info.mtimeMs}:${info.size}`;
  } catch {
    return undefined;
  }
}

/** Reads the policy file from a path or a gs:// URI and checks it agrees with the environment. */
export async function readPolicy(config: Config, objects: ObjectStore): Promise<Policy> {
  return (await readVersionedPolicy(config, objects)).policy;
}

/**
 * The policy and its version. A gs:// policy's version is the generation of the text read (the
 * read is pinned to it), so a cold start makes two requests for it, not a metadata read first; a
 * local file's is its mtime and size, taken before reading it.
 */
async function readVersionedPolicy(
  config: Config,
  objects: ObjectStore,
): Promise<{ policy: Policy; version: string | undefined }> {
  let text: string;
  let version: string | undefined;
  const gs = /^gs:\/\/([^/]+)\/(.+)$/.exec(config.policy);
  if (gs) {
    const found = await objects.readText({ bucket: gs[1]!, name: gs[2]! });
    if (!found)
      throw new ConfigurationError('POLICY_NOT_FOUND', `policy file ${config.policy} does not exist`);
    text = found.text;
    version = found.info.generation;
  } else {
    version = await policyVersion(config, objects);
    try {
      text = await readFile(config.policy, 'utf8');
    } catch (err) {
      throw new ConfigurationError('POLICY_NOT_FOUND', `policy file ${config.policy} cannot be read`, {
        cause: err,
      });
    }
  }
  const policy = loadPolicy(text, config.policy);
  const mismatches: string[] = [];
  if (policy.cluster.project !== config.project)
    mismatches.push(`project ${policy.cluster.project} vs ${config.project}`);
  if (policy.cluster.name !== config.cluster)
    mismatches.push(`cluster ${policy.cluster.name} vs ${config.cluster}`);
  if (policy.cluster.repositoryBucket !== config.repositoryBucket) {
    mismatches.push(`repositoryBucket ${policy.cluster.repositoryBucket} vs ${config.repositoryBucket}`);
  }
  if (mismatches.length > 0) {
    throw new ConfigurationError(
      'POLICY_ENVIRONMENT_MISMATCH',
      `policy file ${config.policy} describes another deployment than the environment: ${mismatches.join('; ')}`,
    );
  }
  return { policy, version };
}

/**
 * The policy as it is now. Warm instances live for hours, so an edited policy file must take
 * effect without a redeploy: at most every `checkEveryMs` the file's version is checked (one
 * metadata read) and a changed file is read again. A file that no longer loads is reported and
 * the last good policy stays in force: a typo must not stop the control plane.
 */
export class PolicySource {
  #policy: Policy;
  #version: string | undefined;
  #checkedAtMs: number;

  constructor(
    private readonly config: Config,
    private readonly objects: ObjectStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    initial: { policy: Policy; version: string | undefined },
    private readonly checkEveryMs = 30_000,
  ) {
    this.#policy = initial.policy;
    this.#version = initial.version;
    this.#checkedAtMs = clock.nowMs();
  }

  static async load(
    config: Config,
    objects: ObjectStore,
    clock: Clock,
    log: Logger,
    checkEveryMs?: number,
  ): Promise<PolicySource> {
    const initial = await readVersionedPolicy(config, objects);
    return new PolicySource(config, objects, clock, log, initial, checkEveryMs);
  }

  async current(): Promise<Policy> {
    const now = this.clock.nowMs();
    if (now - this.#checkedAtMs < this.checkEveryMs) return this.#policy;
    this.#checkedAtMs = now;
    const version = await policyVersion(this.config, this.objects);
    if (version === this.#version) return this.#policy;
    try {
      this.#policy = await readPolicy(this.config, this.objects);
      this.#version = version;
      this.log.notice('policy file changed: new policy in force', { policy: this.config.policy, version });
    } catch (err) {
      this.log.error(
        `policy file changed but cannot be used; the previous policy stays in force: ${errorMessage(err)}`,
        {
          policy: this.config.policy,
          version,
          error: err,
        },
      );
    }
    return this.#policy;
  }
}
