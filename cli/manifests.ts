/**
 * inferctl manifests [--policy FILE] [--gpu-class ID] [--models a,b]
 *
 * Prints the Kubernetes objects the control plane makes for one GPU pool, as multi-document
 * YAML: for review, for GitOps repositories that want to see them, or to apply by hand. The
 * admin-key Secret is left out (the control plane generates its value); the node pool is
 * described in a comment.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { desiredPool } from '../shared/cluster/desired';
import { loadPolicy, resolveModelPolicy } from '../shared/policy';
import { CONFIG_REFERENCE, type Env } from '../shared/runtime/config';
import {
  type CommandSpec,
  commaList,
  EXIT_FAILURE,
  EXIT_OK,
  type OptionSpec,
  parseCommandLine,
} from './args';
import type { CliIo } from './io';

/** The functions' default, `./policy.yaml`, read from the one configuration reference. */
export const DEFAULT_POLICY_FILE =
  CONFIG_REFERENCE.find((e) => e.name === 'INFERPLANE_POLICY')?.default ?? './policy.yaml';

/** The commented example shipped with inferctl, used when no policy file is given or found. */
export const BUNDLED_POLICY_FILE = fileURLToPath(new URL('../examples/policy.yaml', import.meta.url));

const SPEC = {
  command: 'inferctl manifests',
  description: `Prints the Kubernetes objects of one GPU pool's Triton stack as YAML.`,
  options: {
    policy: {
      type: 'string',
      value: 'FILE',
      expects: 'a policy file',
      description: `the policy file (default: INFERPLANE_POLICY, else ${DEFAULT_POLICY_FILE}, else examples/policy.yaml)`,
    },
    'gpu-class': {
      type: 'string',
      value: 'ID',
      expects: 'a GPU class id',
      description: "the pool's GPU class (default: the policy's modelDefaults.gpuClass)",
    },
    models: {
      type: 'string',
      value: 'NAME,NAME',
      expects: 'comma-separated model names',
      parse: commaList,
      description: 'models served by the pool, for its scaling bounds (default: the defaults)',
    },
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

/**
 * Which policy file to read: --policy, else INFERPLANE_POLICY, else ./policy.yaml when it exists,
 * else the bundled example (`bundled: true`, so the caller can say so). A file the user named is
 * never replaced by the example: a typo must not print another deployment's objects.
 */
export async function resolvePolicyFile(
  flag: string | undefined,
  env: Env,
  cwd: string,
): Promise<{ file: string; text: string; bundled: boolean }> {
  const named = flag ?? (env.INFERPLANE_POLICY || undefined);
  const file = named ?? path.resolve(cwd, DEFAULT_POLICY_FILE);
  if (/^gs:\/\//.test(file)) {
    throw new Error(
      `${file}: manifests reads a local policy file; copy it first (gcloud storage cp ${file} policy.yaml)`,
    );
  }
  try {
    return { file, text: await readFile(path.resolve(cwd, file), 'utf8'), bundled: false };
  } catch (err) {
    const notFound = (err as { code?: unknown }).code === 'ENOENT';
    if (named !== undefined || !notFound) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`policy file ${file} cannot be read: ${why}`);
    }
  }
  return { file: BUNDLED_POLICY_FILE, text: await readFile(BUNDLED_POLICY_FILE, 'utf8'), bundled: true };
}

function shownPath(file: string, cwd: string): string {
  const relative = path.relative(cwd, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

export async function manifestsCommand(
  args: string[],
  io: CliIo,
  env: Env = process.env,
  cwd: string = process.cwd(),
): Promise<number> {
  const parsed = parseCommandLine(SPEC, args, io);
  if (typeof parsed === 'number') return parsed;
  const { 'gpu-class': gpuClass, models = [] } = parsed.values;

  let policyFile: Awaited<ReturnType<typeof resolvePolicyFile>>;
  try {
    policyFile = await resolvePolicyFile(parsed.values.policy, env, cwd);
  } catch (err) {
    io.stderr.write(`${SPEC.command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT_FAILURE;
  }
  if (policyFile.bundled) {
    io.stderr.write(
      `${SPEC.command}: no --policy, INFERPLANE_POLICY or ${DEFAULT_POLICY_FILE} here; ` +
        `using the bundled example ${shownPath(policyFile.file, cwd)}\n`,
    );
  }

  const policy = loadPolicy(policyFile.text, policyFile.file);
  const classId = gpuClass ?? policy.modelDefaults.gpuClass;
  const modelPolicies = (models.length > 0 ? models : ['(defaults)']).map((m) =>
    resolveModelPolicy(policy, m),
  );
  const pool = desiredPool({
    policy,
    gpuClassId: classId,
    models: modelPolicies,
    adminKey: 'placeholder-never-printed',
  });
  const autoscaling = pool.nodePool.autoscaling;
  const accelerators = pool.nodePool.config?.accelerators?.[0];
  const header = [
    `# Triton serving stack of GPU pool ${pool.pool} (class ${pool.gpuClass.id}), generated by inferctl manifests.`,
    `# Node pool: ${pool.nodePool.config?.machineType}, ${accelerators?.acceleratorCount} x ${accelerators?.acceleratorType}` +
      `${pool.spot ? ', Spot' : ''}, autoscaling ${autoscaling?.totalMinNodeCount}-${autoscaling?.totalMaxNodeCount} nodes,` +
      ' taint nvidia.com/gpu=present:NoSchedule.',
    `# Repository: gs://${pool.repository.bucket}/${pool.repository.prefix}`,
    `# Not shown: Secret ${pool.adminSecret.name} (key ${pool.adminSecret.key}), whose value the control plane generates.`,
  ].join('\n');
  const documents = pool.objects
    .filter((o) => !(o.kind === 'Secret' && o.metadata.name === pool.adminSecret.name))
    .map((o) => stringify(o, { lineWidth: 0 }).trimEnd());
  io.stdout.write(`${header}\n---\n${documents.join('\n---\n')}\n`);
  return EXIT_OK;
}
