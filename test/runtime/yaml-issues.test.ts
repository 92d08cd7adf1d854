/**
 * The one mapper from YAML syntax errors and zod issues to located issues, and the two files that
 * use it (the policy file, model.yaml): the same mistake is reported the same way in both.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidManifestError, parseManifest } from '../../shared/deploy/manifest';
import { InvalidPolicyError, loadPolicy } from '../../shared/policy';
import {
  locateYamlIssues,
  locateZodIssues,
  parseLocatedYaml,
  yamlFieldErrors,
} from '../../shared/runtime/yaml-issues';

const TEXT = ['a:', '  b:', '    - { c: 1 }', '    - { c: x }', 'd: 2', ''].join('\n');

describe('located YAML issues', () => {
  it('syntax errors: one issue each, at the line and column of the error', () => {
    const { syntaxIssues } = parseLocatedYaml('a: 1\nb: c: d\n');
    expect(syntaxIssues).toEqual([
      {
        path: '',
        message: 'YAML syntax error at line 2, column 4: Nested mappings are not allowed in compact mappings',
        line: 2,
        column: 4,
      },
    ]);
    expect(parseLocatedYaml(TEXT).syntaxIssues).toEqual([]);
  });

  it('a duplicate key is a syntax error', () => {
    expect(parseLocatedYaml('a: 1\na: 2\n').syntaxIssues[0]).toMatchObject({ line: 2, column: 1 });
  });

  it.each([
    { path: 'a.b.1.c', line: 4, column: 9 },
    { path: 'a.b.0', line: 3, column: 7 },
    { path: 'd', line: 5, column: 1 },
    { name: 'a path the file lacks: its nearest parent', path: 'a.b.1.missing', line: 4, column: 7 },
    { name: 'nothing of the path in the file: no position', path: 'zzz', line: undefined, column: undefined },
  ])('$path at line $line', ({ path, line, column }) => {
    const { yaml } = parseLocatedYaml(TEXT);
    const [issue] = locateYamlIssues([{ path, message: 'm' }], yaml);
    expect(issue).toEqual({ path, message: 'm', ...(line === undefined ? {} : { line, column }) });
  });

  it('sorts by line; issues without a position keep their order, last', () => {
    const { yaml } = parseLocatedYaml(TEXT);
    const paths = ['zzz', 'd', 'yyy', 'a.b.1.c', 'a'];
    const located = locateYamlIssues(
      paths.map((path) => ({ path, message: 'm' })),
      yaml,
    );
    expect(located.map((i) => i.path)).toEqual(['a', 'a.b.1.c', 'd', 'zzz', 'yyy']);
  });

  it('zod issues: "is required" for a missing field, one issue per unknown key, with extra issues', () => {
    const schema = z.strictObject({ a: z.unknown(), d: z.string(), need: z.number() });
    const { yaml } = parseLocatedYaml(`${TEXT}bogus: 1\nother: 2\n`);
    const parsed = schema.safeParse(yaml.doc.toJS(), { error: yamlFieldErrors });
    expect(parsed.success).toBe(false);
    const issues = locateZodIssues(parsed.error?.issues ?? [], yaml, [{ path: 'a.b', message: 'extra' }]);
    expect(issues).toEqual([
      { path: 'a.b', message: 'extra', line: 2, column: 3 },
      { path: 'd', message: expect.stringMatching(/string/), line: 5, column: 1 },
      { path: 'bogus', message: 'unknown field', line: 6, column: 1 },
      { path: 'other', message: 'unknown field', line: 7, column: 1 },
      { path: 'need', message: 'is required' },
    ]);
  });

  it('the policy loader and the manifest parser report a syntax error identically', () => {
    const broken = 'backend: [onnxruntime\n';
    const policyIssues = (() => {
      try {
        loadPolicy(broken);
      } catch (err) {
        if (err instanceof InvalidPolicyError) return err.issues;
      }
      throw new Error('the policy loaded');
    })();
    const manifestIssues = (() => {
      try {
        parseManifest(broken);
      } catch (err) {
        if (err instanceof InvalidManifestError) return err.issues;
      }
      throw new Error('the manifest parsed');
    })();
    expect(policyIssues).toEqual(parseLocatedYaml(broken).syntaxIssues);
    expect(manifestIssues).toEqual(policyIssues);
  });
});
