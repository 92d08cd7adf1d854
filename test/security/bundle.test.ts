import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  classifyBundleObject,
  exportBundleJsonSchema,
  InvalidBundleError,
  parseSecurityBundle,
} from '../../shared/security/bundle';

const GOOD = [
  'apiVersion: inferplane.dev/v1',
  'kind: SecurityBundle',
  'metadata: { name: tighten, description: only the gateway }',
  'networkPolicy:',
  '  allowNamespaces: [gateway]',
  '  allowCidrs: ["10.8.0.0/28"]',
  '',
].join('\n');

function issuesOf(text: string): Array<{ path: string; line?: number }> {
  try {
    parseSecurityBundle(text, 'gs://b/bundles/x.yaml#1');
  } catch (err) {
    if (err instanceof InvalidBundleError)
      return err.issues.map((i) => ({ path: i.path, ...(i.line ? { line: i.line } : {}) }));
    throw err;
  }
  return [];
}

describe('security bundles', () => {
  it('parses a bundle and fills the network policy defaults', () => {
    const bundle = parseSecurityBundle(GOOD, 'test');
    expect(bundle.networkPolicy).toEqual({
      allowNamespaces: ['gateway'],
      allowCidrs: ['10.8.0.0/28'],
      allowPodLabels: {},
      monitoringNamespace: 'gmp-system',
      googleApiCidrs: ['199.36.153.8/30'],
    });
  });

  it('names every problem of a bad bundle, each with its path and line', () => {
    const text = [
      'apiVersion: inferplane.dev/v2',
      'kind: SecurityBundle',
      'networkPolicy:',
      '  allowCidrs: ["10.0.0.0/33"]',
      '  allowNamespaces: ["Bad_Name"]',
      '  colour: blue',
      '',
    ].join('\n');
    expect(issuesOf(text)).toEqual([
      { path: 'apiVersion', line: 1 },
      { path: 'networkPolicy.allowCidrs.0', line: 4 },
      { path: 'networkPolicy.allowNamespaces.0', line: 5 },
      { path: 'networkPolicy.colour', line: 6 },
    ]);
  });

  it.each([
    ['a YAML syntax error', 'networkPolicy: [a, b\n'],
    ['not a mapping', '- a\n'],
    ['no networkPolicy', 'apiVersion: inferplane.dev/v1\nkind: SecurityBundle\n'],
    ['too large', `${GOOD}#${'x'.repeat(70_000)}\n`],
  ])('refuses %s', (_name, text) => {
    expect(() => parseSecurityBundle(text, 'test')).toThrow(InvalidBundleError);
  });

  it.each([
    ['bundles/tight.yaml', 'bundle'],
    ['bundles/tight.yml', 'bundle'],
    ['bundles/Tight.yaml', 'ignore'],
    ['bundles/nested/tight.yaml', 'ignore'],
    ['notes/readme.txt', 'ignore'],
  ])('%s is a %s', (name, kind) => expect(classifyBundleObject(name).kind).toBe(kind));

  const committed = fileURLToPath(new URL('../../shared/security/bundle.schema.json', import.meta.url));
  it('matches the committed shared/security/bundle.schema.json (rewrite: UPDATE_BUNDLE_SCHEMA=1 npx vitest run test/security/bundle.test.ts)', () => {
    const exported = exportBundleJsonSchema();
    if (process.env.UPDATE_BUNDLE_SCHEMA === '1')
      writeFileSync(committed, `${JSON.stringify(exported, null, 2)}\n`);
    expect(JSON.parse(readFileSync(committed, 'utf8'))).toEqual(exported);
  });
});
