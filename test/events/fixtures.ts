import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cloudEventFromBinaryHttp } from '../../events/cloudevent';
import { ValidationError } from '../../shared/runtime/errors';

export const FIXTURES_DIR = fileURLToPath(new URL('../../events/fixtures/', import.meta.url));

export type Outcome = 'valid' | 'edge' | 'invalid';

export interface Fixture {
  /** File name without `.json`, e.g. `invalid-negative-size`. */
  name: string;
  outcome: Outcome;
  /** Parsed with JSON.parse, exactly as a server would see the bytes. */
  json: Record<string, unknown>;
}

export interface HttpFixture {
  headers: Record<string, string>;
  body: unknown;
  messageDataDecoded?: unknown;
}

/** Folders of event fixtures (JSON); `manifests/` holds model.yaml examples, tested in test/deploy. */
export function fixtureSources(): string[] {
  return readdirSync(FIXTURES_DIR, { withFileTypes: true })
    .filter(
      (d) => d.isDirectory() && readdirSync(`${FIXTURES_DIR}${d.name}`).some((f) => f.endsWith('.json')),
    )
    .map((d) => d.name)
    .sort();
}

export function loadFixtures(source: string): Fixture[] {
  const dir = `${FIXTURES_DIR}${source}/`;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => {
      const name = file.slice(0, -'.json'.length);
      const outcome = name.split('-')[0];
      if (outcome !== 'valid' && outcome !== 'edge' && outcome !== 'invalid') {
        throw new Error(`fixture ${source}/${file} must start with valid-, edge- or invalid-`);
      }
      return { name, outcome, json: JSON.parse(readFileSync(`${dir}${file}`, 'utf8')) };
    });
}

export function loadFixture(source: string, name: string): Fixture {
  const found = loadFixtures(source).find((f) => f.name === name);
  if (!found) throw new Error(`no fixture ${source}/${name}`);
  return found;
}

export function asHttp(fixture: Fixture): HttpFixture {
  return fixture.json as unknown as HttpFixture;
}

/** What the Functions Framework hands to the handler for this binary-mode delivery. */
export function deliveredCloudEvent(fixture: Fixture): Record<string, unknown> {
  const http = asHttp(fixture);
  return cloudEventFromBinaryHttp(http.headers, http.body);
}

/** Runs `fn`, which must throw a ValidationError, and returns it for assertions. */
export function captureValidationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError, but parsing succeeded');
}
