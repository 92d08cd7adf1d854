import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { jsonSchemas, SCHEMA_DIR, serialise } from '../../events/schema/generate';

describe('committed JSON Schemas', () => {
  const generated = jsonSchemas();

  it('cover exactly the generated set', () => {
    // Act
    const committed = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'));

    // Assess
    expect(committed.sort()).toEqual(Object.keys(generated).sort());
  });

  it.each(Object.keys(generated))('%s is up to date (npx tsx events/schema/generate.ts)', (file) => {
    expect(readFileSync(`${SCHEMA_DIR}${file}`, 'utf8')).toBe(serialise(generated[file]));
  });
});
