/**
 * inferctl upload <path> --model NAME [--version N] [--json] [--project P]
 *
 * Uploads a model file (or every file of a directory, manifest last) to the incoming bucket as
 * `<model>/<version>/<file>`, which is what deployModel watches. The version defaults to one more
 * than the newest the registry knows. Large files go up resumably, with progress on stderr.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createStorageClient, GcsObjectStore } from '../shared/adapters/storage';
import { ModelRegistry } from '../shared/deploy/registry';
import { readPolicy } from '../shared/policy/source';
import { loadConfig } from '../shared/runtime/config';
import {
  type CommandSpec,
  EXIT_OK,
  EXIT_USAGE,
  nonNegativeInteger,
  type OptionSpec,
  parseCommandLine,
  usageOf,
} from './args';
import { fail, PROJECT_OPTION } from './common';
import type { CliIo } from './io';
import { resolveTarget } from './sandbox-env';

const SPEC = {
  command: 'inferctl upload',
  operands: '<path>',
  positionals: {
    min: 1,
    max: 1,
    missing: 'give the model file or directory to upload: inferctl upload model.onnx --model NAME',
    tooMany: 'give one path (a directory uploads every file in it)',
  },
  description: `Uploads a model to the incoming bucket as <model>/<version>/<file>, which deployModel deploys.
A directory uploads every file under it (model.yaml last: it is the commit marker of a multi-file
model). The version defaults to one more than the newest the registry knows (1 for a new model).`,
  options: {
    model: {
      type: 'string',
      value: 'NAME',
      expects: 'a model name (letters, digits, _ . -)',
      description: 'the model name',
    },
    version: {
      type: 'string',
      value: 'N',
      expects: 'a positive integer',
      parse: (raw: string) => {
        const n = nonNegativeInteger(raw);
        if (n < 1 || raw.startsWith('0')) throw new Error('');
        return n;
      },
      description: 'the version number (default: the next one)',
    },
    json: { type: 'boolean', description: 'print JSON only: {bucket, model, version, objects}' },
    project: PROJECT_OPTION,
  },
} satisfies CommandSpec<Record<string, OptionSpec>>;

const MODEL_NAME = /^[A-Za-z0-9_.-]+$/;
const RESUMABLE_ABOVE = 8 * 1024 * 1024;

/** The name deployModel expects for a single file: `model.<ext>` for a model file, else as it is. */
export function objectFileName(file: string): string {
  const base = path.basename(file);
  if (base === 'config.pbtxt' || base.startsWith('model.')) return base;
  const ext = path.extname(base).slice(1).toLowerCase();
  return ['onnx', 'plan', 'pt', 'py', 'yaml'].includes(ext) ? `model.${ext}` : base;
}

function filesOf(root: string): Array<{ file: string; relative: string }> {
  if (!statSync(root).isDirectory()) return [{ file: root, relative: objectFileName(root) }];
  const out: Array<{ file: string; relative: string }> = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push({ file: full, relative: path.relative(root, full).split(path.sep).join('/') });
    }
  };
  walk(root);
  // The manifest commits a multi-file model: it goes last.
  return [
    ...out.filter((f) => f.relative !== 'model.yaml'),
    ...out.filter((f) => f.relative === 'model.yaml'),
  ];
}

export async function uploadCommand(args: string[], io: CliIo, env = process.env): Promise<number> {
  const parsed = parseCommandLine(SPEC, args, io);
  if (typeof parsed === 'number') return parsed;
  const { model, version, json, project } = parsed.values;
  const source = parsed.positionals[0] ?? '';
  if (!model || !MODEL_NAME.test(model) || model === '.' || model === '..') {
    io.stderr.write(
      `${SPEC.command}: --model NAME is required (letters, digits, _ . -; e.g. --model add)\n\n${usageOf(SPEC)}`,
    );
    return EXIT_USAGE;
  }
  try {
    let files: Array<{ file: string; relative: string }>;
    try {
      files = filesOf(source);
    } catch {
      throw new Error(`cannot read ${source}: give an existing model file or directory`);
    }
    if (files.length === 0) throw new Error(`${source} has no files to upload`);
    const target = resolveTarget(env, { project });
    const config = loadConfig(target.env);
    if (target.kind === 'sandbox') process.env.METADATA_SERVER_DETECTION ??= 'none';
    const storage = createStorageClient({ projectId: config.project, endpoint: config.endpoints.storage });
    const objects = new GcsObjectStore(storage);
    const bucket =
      target.kind === 'sandbox'
        ? target.sandbox.buckets.incoming
        : (await readPolicy(config, objects)).cluster.incomingBucket;
    let n = version as number | undefined;
    if (n === undefined) {
      const entry = await new ModelRegistry(objects, config.stateBucket).get(model);
      const known = Object.values(entry?.record.versions ?? {}).map((v) => v.version);
      n = Math.max(0, ...known) + 1;
    }
    const uploaded: Array<{ name: string; size: number; generation: string }> = [];
    for (const f of files) {
      const name = `${model}/${n}/${f.relative}`;
      const size = statSync(f.file).size;
      let lastShown = 0;
      const [file] = await storage.bucket(bucket).upload(f.file, {
        destination: name,
        resumable: size > RESUMABLE_ABOVE,
        onUploadProgress: (p: { bytesWritten?: number }) => {
          if (size <= RESUMABLE_ABOVE) return;
          const pct = size > 0 ? Math.floor(((p.bytesWritten ?? 0) / size) * 100) : 100;
          if (json || pct < lastShown + 10) return;
          lastShown = pct;
          io.stderr.write(`  ${name}: ${pct}%\n`);
        },
      });
      uploaded.push({ name, size, generation: String(file.metadata.generation ?? '') });
      if (!json) io.stdout.write(`uploaded gs://${bucket}/${name} (${size} bytes)\n`);
    }
    if (json)
      io.stdout.write(`${JSON.stringify({ bucket, model, version: n, objects: uploaded }, null, 2)}\n`);
    else io.stdout.write(`deployModel deploys ${model} version ${n}; watch it with: inferctl status\n`);
    return EXIT_OK;
  } catch (err) {
    return fail(io, SPEC.command, json, err);
  }
}
