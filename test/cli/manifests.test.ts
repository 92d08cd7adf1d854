import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { manifestsCommand } from '../../cli/manifests';

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await manifestsCommand(
    args,
    { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (err += t) } },
    {},
  );
  return { code, out, err };
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
    expect(out).toBe(await readFile('infra/k8s/triton-l4-spot.example.yaml', 'utf8'));
  });

  it('refuses unknown arguments with usage (exit 2)', async () => {
    const { code, err } = await run(['--nope']);
    expect(code).toBe(2);
    expect(err).toContain('Usage: inferctl manifests');
  });
});
