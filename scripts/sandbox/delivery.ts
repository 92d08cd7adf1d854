/**
 * Pub/Sub to the functions, as Google Cloud wires it: Eventarc turns a message into a
 * `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent (binary mode: `ce-*` headers, the body
 * `{message, subscription}`) and POSTs it to the function; a non-2xx answer is redelivered.
 *
 * Two transports carry the message to that delivery: the Pub/Sub emulator's push subscriptions
 * (the emulator POSTs its push body to `/push/<function>` on the sandbox's server, which delivers
 * and answers with the function's status, so the emulator retries a failure), or, where there is
 * no emulator, `InProcessBus`, which publishes and pushes with the same envelope and retries with
 * backoff.
 */
import { randomUUID } from 'node:crypto';

export interface PushMessage {
  data?: string;
  attributes?: Record<string, string>;
  messageId: string;
  publishTime: string;
  orderingKey?: string;
}

/** `projects/P/topics/T` or `T` -> `T`. */
export function shortTopic(topic: string): string {
  return topic.replace(/^projects\/[^/]+\/topics\//, '');
}

/** The headers and body Eventarc POSTs for one message on `topic` of `project`. */
export function messagePublishedRequest(
  project: string,
  topic: string,
  subscription: string,
  message: PushMessage,
): { headers: Record<string, string>; body: string } {
  const full = { ...message, message_id: message.messageId, publish_time: message.publishTime };
  return {
    headers: {
      'content-type': 'application/json',
      'ce-id': message.messageId,
      'ce-source': `//pubsub.googleapis.com/projects/${project}/topics/${shortTopic(topic)}`,
      'ce-specversion': '1.0',
      'ce-type': 'google.cloud.pubsub.topic.v1.messagePublished',
      'ce-time': message.publishTime,
    },
    body: JSON.stringify({ message: full, subscription }),
  };
}

/** POSTs one delivery; resolves to the HTTP status (0: no answer). */
export async function deliver(
  url: string,
  request: { headers: Record<string, string>; body: string },
): Promise<number> {
  try {
    const res = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

export interface Subscriber {
  /** The function's name (for logs). */
  name: string;
  url: string;
}

/** Publish and push without the emulator: one subscription per (topic, function). */
export class InProcessBus {
  readonly #subscribers = new Map<string, Subscriber[]>();
  readonly #pending = new Set<Promise<void>>();
  #seq = 0;
  #closed = false;

  constructor(
    private readonly project: string,
    private readonly log: (line: string) => void,
    private readonly opts: { maxAttempts?: number; initialBackoffMs?: number } = {},
  ) {}

  subscribe(topic: string, subscriber: Subscriber): void {
    const t = shortTopic(topic);
    this.#subscribers.set(t, [...(this.#subscribers.get(t) ?? []), subscriber]);
  }

  /** As `topic.publishMessage`: resolves to the message id once accepted; pushes in the background. */
  async publish(topic: string, data: Buffer, attributes: Record<string, string> = {}): Promise<string> {
    if (this.#closed) throw new Error('the sandbox is stopping');
    const t = shortTopic(topic);
    const messageId = `${Date.now()}${String(++this.#seq).padStart(4, '0')}`;
    const message: PushMessage = {
      data: data.toString('base64'),
      attributes,
      messageId,
      publishTime: new Date().toISOString(),
    };
    for (const s of this.#subscribers.get(t) ?? []) {
      const subscription = `projects/${this.project}/subscriptions/sandbox-${s.name}-${t}`;
      const p = this.#push(s, messagePublishedRequest(this.project, t, subscription, message)).finally(() =>
        this.#pending.delete(p),
      );
      this.#pending.add(p);
    }
    return messageId;
  }

  async #push(s: Subscriber, request: { headers: Record<string, string>; body: string }): Promise<void> {
    const max = this.opts.maxAttempts ?? 6;
    let backoff = this.opts.initialBackoffMs ?? 1000;
    for (let attempt = 1; attempt <= max && !this.#closed; attempt++) {
      const status = await deliver(s.url, request);
      if (status >= 200 && status < 300) return;
      if (attempt === max) {
        this.log(
          `in-process push to ${s.name}: gave up after ${max} attempts (last status ${status || 'none'})`,
        );
        return;
      }
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 60_000);
    }
  }

  /** Resolves once every push so far has been answered (or given up). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  close(): void {
    this.#closed = true;
  }
}

export const newRunId = (): string => randomUUID().slice(0, 8);
