/**
 * Runs every `bench/*.bench.ts` module (each default-exports a `Bench`) and prints its figures.
 *
 *   npm run bench -- [--quick] [--json] [--only <substr>]
 *
 * `--only` keeps the modules whose file name contains the substring. `--json` prints one JSON array
 * of all figures on stdout; progress and notes always go to stderr.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type Bench, type BenchContext, type Figure, formatJson, formatTable } from './harness';

// A benchmark may import a function's entry, which routes `console` to structured log lines (as a
// function must); the bench's own output stays plain text on the streams as they were.
const out = process.stdout.write.bind(process.stdout);
const errWrite = process.stderr.write.bind(process.stderr);
const print = (text: string) => out(`${text}\n`);
const note = (text: string) => errWrite(`${text}\n`);

const benchDir = path.dirname(fileURLToPath(import.meta.url));

function isBench(value: unknown): value is Bench {
  return typeof value === 'function';
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      only: { type: 'string' },
    },
  });
  const files = (await readdir(benchDir))
    .filter((f) => f.endsWith('.bench.ts') && (values.only === undefined || f.includes(values.only)))
    .sort();
  if (files.length === 0) {
    note(`no benchmark matches --only ${values.only}`);
    return 1;
  }
  const ctx: BenchContext = { quick: values.quick, log: (m) => note(m) };
  const all: Figure[] = [];
  let failed = 0;
  for (const file of files) {
    const name = file.slice(0, -'.bench.ts'.length);
    const started = performance.now();
    note(`# ${name}${values.quick ? ' (quick)' : ''}`);
    try {
      const mod: { default?: unknown } = await import(pathToFileURL(path.join(benchDir, file)).href);
      if (!isBench(mod.default)) throw new Error(`${file} has no default-exported benchmark function`);
      const figures = await mod.default(ctx);
      all.push(...figures);
      if (!values.json) print(`\n## ${name}\n${formatTable(figures)}\n`);
    } catch (err) {
      failed++;
      note(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    note(`# ${name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  if (values.json) print(formatJson(all));
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => {
    // Clients (ORT, Cloud Storage) may keep handles alive; the figures are out, so leave.
    process.exit(code);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
