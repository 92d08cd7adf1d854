/**
 * Exponential backoff with jitter: the one schedule every retry loop of the control plane uses
 * (GKE operation polls, a busy cluster, apiserver retries, Cloud Storage contention).
 */
export interface Backoff {
  initialMs: number;
  factor: number;
  maxMs: number;
}

/** Delay before retry number `attempt` (0-based), without jitter. */
export function backoffDelayMs(b: Backoff, attempt: number): number {
  return Math.min(b.maxMs, Math.round(b.initialMs * b.factor ** Math.max(0, attempt)));
}

export function backoffSchedule(b: Backoff, count: number): number[] {
  return Array.from({ length: count }, (_, i) => backoffDelayMs(b, i));
}

/**
 * Spreads `ms` over [ms/2, ms] so that several instances retrying the same thing do not all retry
 * at the same instant. `random` returns [0, 1).
 */
export function withJitter(ms: number, random: () => number): number {
  return Math.round(ms / 2 + (ms / 2) * random());
}

/** `backoffDelayMs` spread by `withJitter`. */
export function jitteredDelayMs(b: Backoff, attempt: number, random: () => number): number {
  return withJitter(backoffDelayMs(b, attempt), random);
}
