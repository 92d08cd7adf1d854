import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { BUNDLED_POLICY_FILE, manifestsCommand } from '../../cli/manifests';

const EXAMPLE = 'infra/k8s/triton-l4-spot.example.yaml';

async function run(
  args: string[],
  env: Record<string, string | undefined> = {},
  cwd = process.cwd(),
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await manifestsCommand(
    args,
    { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } },
    env,
    cwd,
  );
  return { code, out, err };
}

/** The namespace every namespaced object of the printed stack is in. */
function namespacesOf(out: string): string[] {
  const namespaces = parseAllDocuments(out)
    .map((d) => (d.toJS() as { metadata?: { namespace?: string } } | null)?.metadata?.namespace)
    .filter((n): n is string => n !== undefined);
  return [...new Set(namespaces)];
}

describe('inferctl manifests', () => {
  it('prints the pool stack as YAML, without the admin key Secret or any key value', async () => {
    const { code, out } = await run([
      '--policy',
      'examples/policy.yaml',
      '--gpu-class',
      'l4',
      '--models',
      'bert-base',
    ]);
    const kinds = parseAllDocuments(out)
      .map((d) => (d.toJS() as { kind?: string } | null)?.kind)
      .filter(Boolean);
    expect(code).toBe(0);
    expect(kinds).toEqual([
      'Namespace',
      'ServiceAccount',
      'Service',
      'Deployment',
      'HorizontalPodAutoscaler',
      'PodDisruptionBudget',
      'NetworkPolicy',
      'NetworkPolicy',
      'NetworkPolicy',
      'PodMonitoring',
    ]);
    expect(out).not.toContain('placeholder-never-printed');
    expect(out).not.toContain(Buffer.from('placeholder-never-printed').toString('base64'));
  });

  it('matches the committed example in infra/k8s, so the example never drifts', async () => {
    const { out } = await run([
      '--policy',
      'examples/policy.yaml',
      '--gpu-class',
      'l4',
      '--models',
      'bert-base',
    ]);
    expect(out).toBe(await readFile(EXAMPLE, 'utf8'));
  });

  it('refuses unknown arguments with usage (exit 2)', async () => {
    const { code, err } = await run(['--nope']);
    expect(code).toBe(2);
    expect(err).toContain('Usage: inferctl manifests');
  });
});

describe('inferctl manifests: which policy file', () => {
  let empty: string;
  let withLocal: string;
  let custom: string;

  beforeAll(async () => {
    // Prepare: an empty directory, one holding a ./policy.yaml, and a policy elsewhere, each
    // telling itself apart from the bundled example by its namespace.
    const example = await readFile(BUNDLED_POLICY_FILE, 'utf8');
    expect(example).toContain('  namespace: triton\n');
    empty = await mkdtemp(path.join(tmpdir(), 'inferctl-manifests-empty-'));
    withLocal = await mkdtemp(path.join(tmpdir(), 'inferctl-manifests-local-'));
    await writeFile(
      path.join(withLocal, 'policy.yaml'),
      example.replace('  namespace: triton\n', '  namespace: from-cwd\n'),
    );
    custom = path.join(withLocal, 'custom.yaml');
    await writeFile(custom, example.replace('  namespace: triton\n', '  namespace: from-env\n'));
  });
  afterAll(async () => {
    for (const dir of [empty, withLocal]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('with no --policy, no INFERPLANE_POLICY and no ./policy.yaml: the bundled example, said on stderr', async () => {
    // Act: the README's command line, from a directory without a policy file.
    const { code, out, err } = await run(['--gpu-class', 'l4', '--models', 'bert-base'], {}, empty);

    // Assess
    expect(code).toBe(0);
    expect(err).toBe(
      'inferctl manifests: no --policy, INFERPLANE_POLICY or ./policy.yaml here; ' +
        `using the bundled example ${BUNDLED_POLICY_FILE}\n`,
    );
    expect(out).toBe(await readFile(EXAMPLE, 'utf8'));
  });

  it.each([
    { name: './policy.yaml of the working directory', args: [], env: {}, namespace: 'from-cwd' },
    {
      name: 'INFERPLANE_POLICY over ./policy.yaml',
      args: [],
      env: { INFERPLANE_POLICY: 'custom.yaml' },
      namespace: 'from-env',
    },
    {
      name: '--policy over INFERPLANE_POLICY',
      args: ['--policy', 'policy.yaml'],
      env: { INFERPLANE_POLICY: 'custom.yaml' },
      namespace: 'from-cwd',
    },
  ])('reads $name, silently', async ({ args, env, namespace }) => {
    // Act
    const { code, out, err } = await run(['--gpu-class', 'l4', ...args], env, withLocal);

    // Assess
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(namespacesOf(out)).toEqual([namespace]);
  });

  it.each([
    { name: 'a missing --policy file', args: ['--policy', 'nope.yaml'], env: {}, stderr: /cannot be read/ },
    {
      name: 'a missing INFERPLANE_POLICY file',
      args: [],
      env: { INFERPLANE_POLICY: '/nonexistent/policy.yaml' },
      stderr: /policy file \/nonexistent\/policy.yaml cannot be read/,
    },
    {
      name: 'a gs:// policy',
      args: [],
      env: { INFERPLANE_POLICY: 'gs://bucket/policy.yaml' },
      stderr: /reads a local policy file; copy it first/,
    },
  ])('fails on $name (exit 1), never falling back to the example', async ({ args, env, stderr }) => {
    // Act
    const { code, out, err } = await run(['--gpu-class', 'l4', ...args], env, empty);

    // Assess
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toMatch(stderr);
    expect(err).not.toContain('bundled example');
  });
});
