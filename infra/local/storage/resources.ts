/**
 * JSON API resource shapes. int64 fields (generation, metageneration, size) are decimal strings,
 * as the real service sends them; the same object body is the data of a finalize CloudEvent.
 */
import { createHash } from 'node:crypto';
import type { StoredBucket, StoredObject } from './store';

export function objectEtag(o: Pick<StoredObject, 'generation' | 'metageneration'>): string {
  return createHash('md5')
    .update(`${o.generation}/${o.metageneration}`)
    .digest()
    .subarray(0, 9)
    .toString('base64');
}

export function objectResource(o: StoredObject, base: string) {
  const b = encodeURIComponent(o.bucket);
  const n = encodeURIComponent(o.name);
  return {
    kind: 'storage#object',
    id: `${o.bucket}/${o.name}/${o.generation}`,
    selfLink: `${base}/storage/v1/b/${b}/o/${n}`,
    mediaLink: `${base}/download/storage/v1/b/${b}/o/${n}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket: o.bucket,
    generation: o.generation,
    metageneration: o.metageneration,
    contentType: o.contentType,
    storageClass: o.storageClass,
    size: String(o.size),
    md5Hash: o.md5Hash,
    crc32c: o.crc32c,
    etag: objectEtag(o),
    timeCreated: o.timeCreated,
    updated: o.updated,
    timeStorageClassUpdated: o.timeStorageClassUpdated,
    ...(o.contentEncoding !== undefined ? { contentEncoding: o.contentEncoding } : {}),
    ...(o.contentDisposition !== undefined ? { contentDisposition: o.contentDisposition } : {}),
    ...(o.contentLanguage !== undefined ? { contentLanguage: o.contentLanguage } : {}),
    ...(o.cacheControl !== undefined ? { cacheControl: o.cacheControl } : {}),
    ...(o.customTime !== undefined ? { customTime: o.customTime } : {}),
    ...(o.metadata !== undefined ? { metadata: o.metadata } : {}),
  };
}

export function bucketResource(b: StoredBucket, base: string) {
  return {
    kind: 'storage#bucket',
    id: b.name,
    selfLink: `${base}/storage/v1/b/${encodeURIComponent(b.name)}`,
    projectNumber: '0',
    name: b.name,
    timeCreated: b.timeCreated,
    updated: b.updated,
    metageneration: '1',
    location: b.location,
    locationType: 'multi-region',
    storageClass: b.storageClass,
    etag: 'CAE=',
    ...(b.labels ? { labels: b.labels } : {}),
  };
}
