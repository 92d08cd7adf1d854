/**
 * The no-secrets rule, as a test helper any test can use: a ledger of every key generated during a
 * run, a log sink and an event sink that keep everything the product writes, and a scan of all of
 * it for every key (as written, and base64-encoded as a Secret carries it).
 *
 * Keys reach the ledger three ways: `record(value)`; `keyMaterial(inner)`, a generator that records
 * what it makes; and `watchKubernetes(server)`, which reads every Secret value the local apiserver
 * ever stores (so keys made inside the product, by deployModel say, are caught too).
 */
import type { KubernetesServer } from '../../infra/local/kubernetes';
import type { EventPublisher, OutboundCloudEvent } from '../../shared/runtime/events';
import { createLogger, type Logger } from '../../shared/runtime/log';

export interface Leak {
  /** The first characters of the key, enough to tell which one, not enough to use it. */
  key: string;
  where: 'log' | 'event';
  /** The log line's message or the event's type. */
  in: string;
}

export class SecretLedger {
  readonly #keys = new Set<string>();
  readonly lines: string[] = [];
  readonly events: OutboundCloudEvent[] = [];

  /** Keys shorter than 8 characters are not tracked: they would match by chance. */
  record(value: string): void {
    if (value.length >= 8) this.#keys.add(value);
  }

  get keys(): ReadonlySet<string> {
    return this.#keys;
  }

  /** A logger whose every line the ledger keeps (and scans). */
  logger(): Logger {
    return createLogger({ sink: (line) => this.lines.push(line) });
  }

  /** An event publisher whose every event the ledger keeps (and scans). */
  publisher(): EventPublisher & { events: OutboundCloudEvent[] } {
    const events = this.events;
    return {
      events,
      publish: async (event) => {
        events.push(structuredClone(event));
        return String(events.length);
      },
    };
  }

  /** Wraps a key generator so that every key it makes is recorded. */
  keyMaterial<T extends { value(): string; suffix(): string }>(inner: T): T {
    return {
      ...inner,
      value: () => {
        const v = inner.value();
        this.record(v);
        return v;
      },
    };
  }

  /** Records every Secret value the apiserver stores from now on (and those it holds now). */
  watchKubernetes(server: KubernetesServer): () => void {
    const read = () => {
      for (const secret of server.objects('Secret')) {
        const data = (secret as { data?: Record<string, string> }).data ?? {};
        for (const value of Object.values(data)) this.record(Buffer.from(value, 'base64').toString('utf8'));
      }
    };
    read();
    return server.onChange(read);
  }

  /** Every place a recorded key appears, as written or base64-encoded. */
  leaks(): Leak[] {
    const needles = [...this.#keys].flatMap((key) => [
      { key, text: key },
      { key, text: Buffer.from(key, 'utf8').toString('base64') },
    ]);
    const out: Leak[] = [];
    for (const line of this.lines) {
      for (const n of needles) {
        if (line.includes(n.text))
          out.push({
            key: `${n.key.slice(0, 4)}…`,
            where: 'log',
            in: messageOf(line).split(n.text).join('[KEY]'),
          });
      }
    }
    for (const event of this.events) {
      const text = JSON.stringify(event);
      for (const n of needles) {
        if (text.includes(n.text)) out.push({ key: `${n.key.slice(0, 4)}…`, where: 'event', in: event.type });
      }
    }
    return out;
  }
}

function messageOf(line: string): string {
  try {
    return String((JSON.parse(line) as { message?: unknown }).message ?? '');
  } catch {
    return line.slice(0, 80);
  }
}
