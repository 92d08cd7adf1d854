import { createHash } from 'node:crypto';

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Key of one CloudEvent delivery. Retried deliveries keep `source` + `id`, so they share the key.
 * `scope` separates consumers that receive the same event (two functions on one bucket trigger)
 * but share the state bucket. The parts are JSON-encoded so no separator can make two keys collide.
 */
export function idempotencyKeyFromEvent(event: { source: string; id: string }, scope?: string): string {
  return sha256Hex(JSON.stringify(['event', scope ?? '', event.source, event.id]));
}

/**
 * Key of one object version: an upload is identified by its generation, so re-uploading the same
 * name is new work while redeliveries of one finalize event are not. The generation stays a string
 * (int64 exceeds 2^53).
 */
export function idempotencyKeyFromObject(
  object: { bucket: string; name: string; generation: string | bigint },
  scope?: string,
): string {
  return sha256Hex(
    JSON.stringify(['object', scope ?? '', object.bucket, object.name, String(object.generation)]),
  );
}

/** JSON with sorted object keys, so equal payloads hash equally whatever their key order. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(normalise(value)) ?? 'undefined';
}

function normalise(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map((v) => (v === undefined ? null : normalise(v)));
  if (value !== null && typeof value === 'object') {
    if (value instanceof Date) return value.toISOString();
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) out[k] = normalise(v);
    }
    return out;
  }
  return value;
}

/** sha256 hex of the payload's stable JSON: detects a key reused for different work. */
export function hashPayload(payload: unknown): string {
  return sha256Hex(stableStringify(payload));
}
