/**
 * Publishing a model version into the Triton repository, so that Triton never sees a half-written
 * version:
 * 1. version files are copied server-side (no model bytes pass through the function), each
 *    skipped when the destination already holds the same content (a re-run after a crash);
 * 2. ensembles get their empty version directory (a zero-byte object ending in "/");
 * 3. config.pbtxt is written LAST, under a generation precondition. Generated configs pin
 *    `version_policy: specific { versions: [N] }`, so until the config names the new version,
 *    Triton keeps loading the old one whatever files have landed.
 * `rollbackVersion` undoes a publish whose load failed: the previous config comes back (the
 * previous version keeps serving) and the new version's files are removed.
 */
import { modelDir, type RepositoryLocation } from '../domain/repository';
import type { ObjectInfo, ObjectRef, ObjectStore } from '../ports/storage';
import { PreconditionFailedError } from '../ports/storage';
import { RetryableError } from '../runtime/errors';

export interface PublishFile {
  /** The uploaded object, pinned to the generation that was inspected. */
  source: ObjectRef & { generation: string };
  /** Path inside the version directory, e.g. `model.onnx` or `model.onnx/weights.bin`. */
  relative: string;
}

export interface PublishRequest {
  repository: RepositoryLocation;
  model: string;
  version: number;
  files: PublishFile[];
  /** config.pbtxt text. */
  configText: string;
  emptyVersionDir: boolean;
}

export interface PublishResult {
  config: ObjectInfo;
  /** Previous config.pbtxt, kept for rollback. */
  previousConfig: { text: string; generation: string } | undefined;
  /** False when the config already had this text: nothing to undo, it is not ours to delete. */
  configWritten: boolean;
  files: ObjectInfo[];
  copied: number;
  skipped: number;
}

function sameContent(a: ObjectInfo, b: ObjectInfo): boolean {
  if (a.size !== b.size) return false;
  if (a.crc32c && b.crc32c)
    return a.crc32c === b.crc32c && (!a.md5Hash || !b.md5Hash || a.md5Hash === b.md5Hash);
  return a.md5Hash !== undefined && a.md5Hash === b.md5Hash;
}

export async function publishVersion(store: ObjectStore, req: PublishRequest): Promise<PublishResult> {
  const dir = modelDir(req.repository, req.model);
  const versionDir = `${dir}/${req.version}`;
  const configRef = { bucket: req.repository.bucket, name: `${dir}/config.pbtxt` };
  // Read the config first: its generation guards the final write against a concurrent publisher.
  const previous = await store.readText(configRef);

  const files: ObjectInfo[] = [];
  let copied = 0;
  let skipped = 0;
  for (const file of req.files) {
    const target = { bucket: req.repository.bucket, name: `${versionDir}/${file.relative}` };
    const [source, existing] = await Promise.all([store.stat(file.source), store.stat(target)]);
    if (!source || source.generation !== file.source.generation) {
      throw new RetryableError(
        'SOURCE_CHANGED',
        `gs://${file.source.bucket}/${file.source.name} changed or vanished since generation ${file.source.generation}`,
      );
    }
    if (existing && sameContent(existing, source)) {
      files.push(existing);
      skipped += 1;
      continue;
    }
    files.push(await store.copy(file.source, target));
    copied += 1;
  }
  if (req.emptyVersionDir) {
    const marker = { bucket: req.repository.bucket, name: `${versionDir}/` };
    if (!(await store.stat(marker))) await store.writeText(marker, '', { ifGenerationMatch: '0' });
  }

  const unchanged = previous && previous.text === req.configText;
  const config = unchanged
    ? previous.info
    : await store.writeText(configRef, req.configText, {
        ifGenerationMatch: previous?.info.generation ?? '0',
        contentType: 'text/plain; charset=utf-8',
      });
  return {
    config,
    previousConfig:
      previous && !unchanged ? { text: previous.text, generation: previous.info.generation } : undefined,
    configWritten: !unchanged,
    files,
    copied,
    skipped,
  };
}

/**
 * Restores the repository to what it was before `publishVersion`: the previous config (or none),
 * and no files of the failed version. Guarded by the generation we wrote, so a newer publish by
 * someone else is never undone.
 */
export async function rollbackVersion(
  store: ObjectStore,
  req: Pick<PublishRequest, 'repository' | 'model' | 'version'>,
  published: Pick<PublishResult, 'config' | 'previousConfig' | 'configWritten'>,
  options: { keepVersionFiles?: boolean } = {},
): Promise<void> {
  const dir = modelDir(req.repository, req.model);
  const configRef = { bucket: req.repository.bucket, name: `${dir}/config.pbtxt` };
  try {
    // A config that already had this text (a re-deploy) is not ours to undo: deleting it would
    // take down whatever it serves.
    if (published.configWritten && published.previousConfig) {
      await store.writeText(configRef, published.previousConfig.text, {
        ifGenerationMatch: published.config.generation,
      });
    } else if (published.configWritten) {
      await store.delete(configRef, { ifGenerationMatch: published.config.generation });
    }
  } catch (err) {
    if (err instanceof PreconditionFailedError) return; // someone published since: theirs stands
    throw err;
  }
  if (options.keepVersionFiles) return;
  const versionPrefix = `${dir}/${req.version}/`;
  for (const info of await store.list(req.repository.bucket, versionPrefix)) {
    await store.delete({ bucket: info.bucket, name: info.name }, { ifGenerationMatch: info.generation });
  }
}
