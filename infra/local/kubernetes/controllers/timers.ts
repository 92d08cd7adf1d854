/** Controller time: real timers for servers, ManualTimers for deterministic tests. */
import type { ControllerTimers } from './types';

export const realTimers: ControllerTimers = {
  nowMs: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return () => clearTimeout(t);
  },
};

/**
 * Time that moves only with `advance`: due callbacks run in time order, each at its own instant.
 * It is also a `Clock` (nowMs, sleep), so the apiserver's timestamps follow it.
 */
export class ManualTimers implements ControllerTimers {
  #now: number;
  #seq = 0;
  readonly #pending = new Map<number, { at: number; fn: () => void }>();

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#now = startMs;
  }

  nowMs(): number {
    return this.#now;
  }

  after(ms: number, fn: () => void): () => void {
    const id = this.#seq++;
    this.#pending.set(id, { at: this.#now + Math.max(0, ms), fn });
    return () => this.#pending.delete(id);
  }

  async sleep(ms: number): Promise<void> {
    this.advance(ms);
  }

  /** Moves time forward by `ms`, running every callback that falls due on the way. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const entry of this.#pending) {
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      }
      if (!next) break;
      this.#pending.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].fn();
    }
    this.#now = end;
  }
}
