import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configReferenceMarkdown } from '../../shared/runtime/config';

describe('README', () => {
  it('carries the configuration table generated from CONFIG_REFERENCE, so the two never drift', async () => {
    const readme = await readFile('README.md', 'utf8');
    expect(readme).toContain(configReferenceMarkdown());
  });

  it('shows exactly the two quickstart commands', async () => {
    const readme = await readFile('README.md', 'utf8');
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toMatch(/^npm test\b/m);
  });
});
