/**
 * Decide, for one finalized object in the incoming bucket, whether a model version is complete and
 * should be deployed now, and from exactly which object generations. Pure: the handler passes in
 * what it observed (the version directory's listing, the manifest, the registry record).
 *
 * Rules (the README's upload convention):
 * - a manifest (model.yaml) is the commit marker of a multi-file model: nothing deploys until
 *   every file it lists exists; whichever of the manifest or the last file arrives last deploys;
 * - without a manifest, a single ONNX or TensorRT file deploys on its own event; PyTorch and
 *   Python files need a manifest or a config.pbtxt;
 * - an event for an object generation that is no longer current is stale (a newer upload has its
 *   own event), so reordered deliveries never let an older generation win;
 * - a version already deployed with the same content is not deployed again, and a serving
 *   version is immutable: new bytes under its number are refused;
 * - the newer version wins: a version older than the one serving is superseded, not deployed
 *   (two versions uploaded together converge to the higher one, whichever finishes first).
 */
import { createHash } from 'node:crypto';
import type { ModelRecord } from '../domain/registry';
import type { ObjectInfo } from '../ports/storage';
import { PermanentError } from '../runtime/errors';
import { type DeployBackend, type Manifest, missingManifestFiles } from './manifest';
import type { PublishFile } from './publish';
import { detectBackend, MANIFEST_FILE, MODEL_FILES, type UploadClass } from './upload';

export const USER_CONFIG_FILE = 'config.pbtxt';

export interface DeployObservation {
  /** The event's object. */
  trigger: { bucket: string; name: string; generation: string };
  upload: Exclude<UploadClass, { kind: 'ignore' }>;
  /** Every object under `<model>/<version>/` in the incoming bucket, as listed now. */
  listing: readonly ObjectInfo[];
  manifest: Manifest | undefined;
  registry: ModelRecord | undefined;
}

export type DeployDecision =
  | { action: 'skip'; reason: string }
  | {
      action: 'deploy';
      model: string;
      version: number;
      backend: DeployBackend;
      /** Files copied into the version directory (model.yaml and config.pbtxt are not). */
      files: PublishFile[];
      /** The uploaded config.pbtxt, when there is one. */
      userConfig: ObjectInfo | undefined;
      /** The file whose signature generates the config (ONNX). */
      onnxModelFile: PublishFile | undefined;
      /** Identifies the exact set of generations deployed. */
      fingerprint: string;
    };

function relativeTo(prefix: string, info: ObjectInfo): string {
  return info.name.slice(prefix.length);
}

/**
 * What a version is built from: each file's name and content hash (md5, else crc32c, else the
 * generation), so re-uploading identical bytes is recognised as the same version.
 */
export function sourceFingerprint(objects: readonly ObjectInfo[]): string {
  const parts = objects
    .map((o) => `${o.name}#${o.md5Hash ?? o.crc32c ?? `generation:${o.generation}`}#${o.size}`)
    .sort();
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

export function decideDeployment(obs: DeployObservation): DeployDecision {
  const { model, version } = obs.upload;
  const prefix = `${model}/${version}/`;
  const byName = new Map(obs.listing.map((o) => [o.name, o]));

  const current = byName.get(obs.trigger.name);
  if (!current) return { action: 'skip', reason: `${obs.trigger.name} no longer exists` };
  if (current.generation !== obs.trigger.generation) {
    return {
      action: 'skip',
      reason: `stale event: generation ${obs.trigger.generation} of ${obs.trigger.name} was replaced by ${current.generation}`,
    };
  }

  const relative = obs.listing
    .filter((o) => !o.name.endsWith('/'))
    .map((o) => ({ info: o, path: relativeTo(prefix, o) }));
  const present = relative.map((r) => r.path);
  const userConfig = byName.get(`${prefix}${USER_CONFIG_FILE}`);
  const manifestInfo = byName.get(`${prefix}${MANIFEST_FILE}`);

  if (manifestInfo && !obs.manifest) {
    return { action: 'skip', reason: `${MANIFEST_FILE} exists but was not read` };
  }
  if (obs.manifest) {
    const missing = missingManifestFiles(obs.manifest, present);
    if (missing.length > 0) {
      return {
        action: 'skip',
        reason: `waiting for files listed in ${MANIFEST_FILE}: ${missing.join(', ')}`,
      };
    }
  } else {
    if (obs.upload.kind === 'asset') {
      return {
        action: 'skip',
        reason: `${obs.upload.file} is part of a multi-file model: it deploys when ${prefix}${MANIFEST_FILE} arrives`,
      };
    }
    const single = present.filter((p) => p in MODEL_FILES && p !== USER_CONFIG_FILE);
    const kinds = single.map((p) => MODEL_FILES[p]);
    if (single.length === 0) {
      return {
        action: 'skip',
        reason: `no model file yet in ${prefix} (config.pbtxt alone does not deploy)`,
      };
    }
    if (kinds.some((k) => k === 'pytorch' || k === 'python') && !userConfig) {
      return {
        action: 'skip',
        reason: `${single.join(', ')} needs a full config: waiting for ${prefix}${MANIFEST_FILE} or ${prefix}${USER_CONFIG_FILE}`,
      };
    }
  }

  const backend = detectBackend(present, obs.manifest?.backend);
  const copied = relative.filter((r) => r.path !== MANIFEST_FILE && r.path !== USER_CONFIG_FILE);
  const files: PublishFile[] = copied.map((r) => ({
    source: { bucket: r.info.bucket, name: r.info.name, generation: r.info.generation },
    size: r.info.size.toString(),
    ...(r.info.md5Hash ? { md5Hash: r.info.md5Hash } : {}),
    ...(r.info.crc32c ? { crc32c: r.info.crc32c } : {}),
    relative: r.path,
  }));
  const fingerprint = sourceFingerprint(relative.map((r) => r.info));

  const serving = obs.registry?.serving;
  if (serving !== undefined && serving > version) {
    return {
      action: 'skip',
      reason: `version ${version} of ${model} is superseded: version ${serving} is serving`,
    };
  }
  const existing = obs.registry?.versions[String(version)];
  if (existing && existing.state === 'READY' && existing.fingerprint === fingerprint) {
    return { action: 'skip', reason: `version ${version} of ${model} is already deployed with this content` };
  }
  // Versions are immutable once served: overwriting the files under a serving version would leave
  // Triton's memory and its repository disagreeing, and the next pod start would load the new bytes.
  if (obs.registry?.serving === version && existing && existing.fingerprint !== fingerprint) {
    throw new PermanentError(
      'VERSION_IMMUTABLE',
      `version ${version} of ${model} is serving and versions are immutable: upload the new files as version ${version + 1}`,
      { details: { model, version } },
    );
  }

  const onnxPath = ['model.onnx', 'model.onnx/model.onnx'].find((p) => present.includes(p));
  const onnxModelFile = backend === 'onnxruntime' ? files.find((f) => f.relative === onnxPath) : undefined;
  return { action: 'deploy', model, version, backend, files, userConfig, onnxModelFile, fingerprint };
}
