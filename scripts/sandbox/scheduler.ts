/**
 * The sandbox's Cloud Scheduler: publishes `reconcile-schedules` to the ticks topic every
 * `tickEveryMs`, and `rotate-security` to the security ticks topic every `securityEveryMs`. With
 * a time offset, each tick carries `at` = now + offset, so applySchedules evaluates the windows
 * as of that time (a night can be watched in minutes). Cloud Scheduler never sets `at`.
 */
import { SCHEDULER_API_VERSION } from '../../events/scheduler';

export type Publish = (topic: string, data: Buffer, attributes: Record<string, string>) => Promise<unknown>;

export interface SchedulerOptions {
  ticksTopic: string;
  securityTopic: string;
  tickEveryMs: number;
  securityEveryMs: number;
  /** Added to the clock for `at`; 0: no `at`. */
  offsetMs: number;
  publish: Publish;
  nowMs?: () => number;
  log?: (line: string) => void;
}

export function tickMessage(nowMs: number, offsetMs: number): Record<string, unknown> {
  return {
    apiVersion: SCHEDULER_API_VERSION,
    command: 'reconcile-schedules',
    ...(offsetMs !== 0 ? { at: new Date(nowMs + offsetMs).toISOString() } : {}),
  };
}

export function startScheduler(o: SchedulerOptions): { stop(): void } {
  const now = o.nowMs ?? Date.now;
  const send = (topic: string, body: unknown, job: string) =>
    o.publish(topic, Buffer.from(JSON.stringify(body)), { 'inferplane-job': job }).catch((err: unknown) => {
      o.log?.(
        `scheduler: publishing to ${topic} failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
  const ticks = setInterval(
    () => void send(o.ticksTopic, tickMessage(now(), o.offsetMs), 'sandbox-reconcile-schedules'),
    o.tickEveryMs,
  );
  const security = setInterval(
    () =>
      void send(
        o.securityTopic,
        { apiVersion: SCHEDULER_API_VERSION, command: 'rotate-security' },
        'sandbox-rotate-security',
      ),
    o.securityEveryMs,
  );
  ticks.unref();
  security.unref();
  return {
    stop: () => {
      clearInterval(ticks);
      clearInterval(security);
    },
  };
}
