/**
 * Publishing a model version into the Triton repository, planned as storage actions, so that
 * Triton never sees a half-written version:
 * 1. version files are copied server-side (no model bytes pass through the function); a file whose
 *    destination already holds the same content gets no action (a re-run after a crash);
 * 2. ensembles get their empty version directory (a zero-byte object ending in "/");
 * 3. config.pbtxt is written LAST, conditional on the generation observed. Generated configs pin
 *    `version_policy: specific { versions: [N] }`, so until the config names the new version,
 *    Triton keeps loading the old one whatever files have landed.
 * `planUnpublish` undoes a publish whose load failed: the previous config comes back (the previous
 * version keeps serving) and the new version's files are removed. Pure: the handler observes.
 */
import type {
  CopyStorageObjectAction,
  DeleteStorageObjectAction,
  StorageObjectRef,
  WriteStorageObjectAction,
} from '../domain/plan';
import { storageTarget } from '../domain/plan';
import { modelDir, type RepositoryLocation } from '../domain/repository';
import type { ObjectInfo } from '../ports/storage';

export interface PublishFile {
  /** The uploaded object, pinned to the generation that was inspected. */
  source: StorageObjectRef & { generation: string };
  /** Size and checksums of that generation (the copy has the same). */
  size: string;
  md5Hash?: string;
  crc32c?: string;
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

/** What the repository holds for one model now. */
export interface RepositoryObservation {
  /** config.pbtxt, if any. */
  config: { text: string; generation: string } | undefined;
  /** Objects under `<model>/<version>/` of the version being published. */
  versionFiles: readonly ObjectInfo[];
}

export const CONFIG_CONTENT_TYPE = 'text/plain; charset=utf-8';

export function configObject(repo: RepositoryLocation, model: string): StorageObjectRef {
  return { bucket: repo.bucket, name: `${modelDir(repo, model)}/config.pbtxt` };
}

export function versionPrefix(repo: RepositoryLocation, model: string, version: number): string {
  return `${modelDir(repo, model)}/${version}/`;
}

function sameContent(live: ObjectInfo, file: PublishFile): boolean {
  if (live.size.toString() !== file.size) return false;
  if (live.crc32c && file.crc32c)
    return live.crc32c === file.crc32c && (!live.md5Hash || !file.md5Hash || live.md5Hash === file.md5Hash);
  return live.md5Hash !== undefined && live.md5Hash === file.md5Hash;
}

export type PublishAction = CopyStorageObjectAction | WriteStorageObjectAction;

/** The actions that publish `req` over what the repository holds: [] when it already does. */
export function planPublish(req: PublishRequest, observed: RepositoryObservation): PublishAction[] {
  const prefix = versionPrefix(req.repository, req.model, req.version);
  const actions: PublishAction[] = [];
  for (const file of req.files) {
    const destination = { bucket: req.repository.bucket, name: `${prefix}${file.relative}` };
    const existing = observed.versionFiles.find((o) => o.name === destination.name);
    if (existing && sameContent(existing, file)) continue;
    actions.push({
      kind: 'copyStorageObject',
      target: storageTarget(destination),
      costDeltaPerHour: 0,
      reason: existing ? 'destination holds other bytes' : `version ${req.version} file`,
      before: existing ? { generation: existing.generation } : null,
      after: {
        source: file.source,
        destination,
        size: file.size,
        ...(file.md5Hash ? { md5Hash: file.md5Hash } : {}),
        ...(file.crc32c ? { crc32c: file.crc32c } : {}),
      },
    });
  }
  if (req.emptyVersionDir) {
    const marker = { bucket: req.repository.bucket, name: prefix };
    if (!observed.versionFiles.some((o) => o.name === marker.name)) {
      actions.push({
        kind: 'writeStorageObject',
        target: storageTarget(marker),
        costDeltaPerHour: 0,
        reason: 'an ensemble has an empty version directory',
        before: null,
        after: { object: marker, text: '', contentType: CONFIG_CONTENT_TYPE },
      });
    }
  }
  if (observed.config?.text !== req.configText) {
    const config = configObject(req.repository, req.model);
    actions.push({
      kind: 'writeStorageObject',
      target: storageTarget(config),
      costDeltaPerHour: 0,
      reason: `config.pbtxt for version ${req.version}, written last`,
      before: observed.config ? { generation: observed.config.generation } : null,
      after: { object: config, text: req.configText, contentType: CONFIG_CONTENT_TYPE },
    });
  }
  return actions;
}

export interface UnpublishRequest {
  repository: RepositoryLocation;
  model: string;
  version: number;
  /** The config text the failed publish wrote. */
  publishedConfigText: string;
  /** The config before the publish, to restore; undefined: there was none. */
  previousConfigText: string | undefined;
  /** The version was serving before (a failed re-deploy): its files stay. */
  keepVersionFiles: boolean;
}

/**
 * Undoes a publish, from what the repository holds now: the previous config comes back (or the
 * config goes, for a first version), then the version's files go. A config that no longer has
 * the text the publish wrote is someone else's newer publish: it stands, and so do the files.
 */
export function planUnpublish(
  req: UnpublishRequest,
  now: RepositoryObservation,
): Array<WriteStorageObjectAction | DeleteStorageObjectAction> {
  const actions: Array<WriteStorageObjectAction | DeleteStorageObjectAction> = [];
  const config = configObject(req.repository, req.model);
  if (!now.config || now.config.text !== req.publishedConfigText) return actions;
  if (req.previousConfigText !== undefined && req.previousConfigText !== req.publishedConfigText) {
    actions.push({
      kind: 'writeStorageObject',
      target: storageTarget(config),
      costDeltaPerHour: 0,
      reason: 'rollback: the previous config comes back',
      before: { generation: now.config.generation },
      after: { object: config, text: req.previousConfigText, contentType: CONFIG_CONTENT_TYPE },
    });
  } else if (req.previousConfigText === undefined) {
    actions.push({
      kind: 'deleteStorageObject',
      target: storageTarget(config),
      costDeltaPerHour: 0,
      reason: 'rollback: no version served before',
      before: { ...config, generation: now.config.generation },
      after: null,
    });
  }
  if (req.keepVersionFiles) return actions;
  for (const info of now.versionFiles) {
    const ref = { bucket: info.bucket, name: info.name };
    actions.push({
      kind: 'deleteStorageObject',
      target: storageTarget(ref),
      costDeltaPerHour: 0,
      reason: `rollback: version ${req.version} did not load`,
      before: { ...ref, generation: info.generation },
      after: null,
    });
  }
  return actions;
}
