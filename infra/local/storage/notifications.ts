/**
 * Object-finalize notifications delivered the way Eventarc delivers them to a Cloud Run function:
 * a binary-mode CloudEvent POST per matching endpoint, asynchronous to the upload, retried with
 * backoff on 5xx and connection errors.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';

export const notificationSchema = z.object({
  bucket: z.string().min(1),
  url: z.url(),
  objectNamePrefix: z.string().optional(),
});
export type NotificationConfig = z.infer<typeof notificationSchema>;

export interface FinalizedObject {
  bucket: string;
  name: string;
  /** The StorageObjectData body: int64 fields already strings. */
  data: Record<string, unknown>;
  /** RFC 3339 time of the finalize. */
  time: string;
}

export interface NotifierOptions {
  maxAttempts?: number;
  initialBackoffMs?: number;
  /** Seen by tests and logs: each attempt's outcome. */
  onAttempt?: (a: { url: string; id: string; attempt: number; status?: number; error?: string }) => void;
}

/**
 * A `ce-*` header value as the CloudEvents HTTP binding (3.1.3.2) says to send it: space, `"`, `%`
 * and every character outside U+0021-U+007E become the upper-case `%XX` of their UTF-8 bytes.
 * Without it, an object name in another script cannot be sent at all (fetch refuses header values
 * outside Latin-1) and one with `%` would be decoded into another name.
 */
export function percentEncodeHeader(value: string): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    if (code >= 0x21 && code <= 0x7e && ch !== '"' && ch !== '%') {
      out += ch;
      continue;
    }
    for (const byte of new TextEncoder().encode(ch)) {
      out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return out;
}

export class Notifier {
  readonly #configs: NotificationConfig[] = [];
  readonly #pending = new Set<Promise<void>>();
  readonly #maxAttempts: number;
  readonly #initialBackoffMs: number;
  #closed = false;

  constructor(private readonly options: NotifierOptions = {}) {
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#initialBackoffMs = options.initialBackoffMs ?? 100;
  }

  add(config: NotificationConfig): void {
    this.#configs.push(notificationSchema.parse(config));
  }

  list(): readonly NotificationConfig[] {
    return this.#configs;
  }

  clear(): void {
    this.#configs.length = 0;
  }

  /** Queues deliveries and returns at once: an upload response never waits for them. */
  objectFinalized(event: FinalizedObject): void {
    for (const config of this.#configs) {
      if (config.bucket !== event.bucket) continue;
      if (config.objectNamePrefix && !event.name.startsWith(config.objectNamePrefix)) continue;
      const delivery = this.#deliver(config.url, event).finally(() => this.#pending.delete(delivery));
      this.#pending.add(delivery);
    }
  }

  /** Resolves once every delivery queued so far (and any queued meanwhile) has been attempted. */
  async delivered(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  close(): void {
    this.#closed = true;
  }

  async #deliver(url: string, event: FinalizedObject): Promise<void> {
    // One id for every retry of the same event, as Eventarc does (at-least-once, same ce-id).
    const id = randomUUID();
    const headers = {
      'ce-id': percentEncodeHeader(id),
      'ce-source': percentEncodeHeader(`//storage.googleapis.com/projects/_/buckets/${event.bucket}`),
      'ce-specversion': '1.0',
      'ce-type': 'google.cloud.storage.object.v1.finalized',
      'ce-subject': percentEncodeHeader(`objects/${event.name}`),
      'ce-time': percentEncodeHeader(event.time),
      'content-type': 'application/json',
    };
    const body = JSON.stringify(event.data);
    for (let attempt = 1; attempt <= this.#maxAttempts && !this.#closed; attempt += 1) {
      let retry = false;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(30_000),
        });
        await res.arrayBuffer().catch(() => undefined);
        this.options.onAttempt?.({ url, id, attempt, status: res.status });
        retry = res.status >= 500 || res.status === 429 || res.status === 408;
      } catch (err) {
        this.options.onAttempt?.({ url, id, attempt, error: String(err) });
        retry = true;
      }
      if (!retry) return;
      if (attempt < this.#maxAttempts)
        await new Promise((r) => setTimeout(r, this.#initialBackoffMs * 2 ** (attempt - 1)));
    }
  }
}
