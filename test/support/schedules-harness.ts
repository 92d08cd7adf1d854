/**
 * applySchedules aimed at a served local pool (test/support/served-pool.ts), in-process: the same
 * ports, executor and Monitoring adapter the production entry builds, a clock the test sets (real
 * sleeps, so operations and readiness are waited for), memory events, and ticks as Pub/Sub
 * deliveries of the Scheduler command.
 */
import { LOCAL_ACCESS_TOKEN } from '../../infra/local/credentials';
import { MemoryEventPublisher } from '../../shared/adapters/events-publisher';
import { createMonitoringMetrics } from '../../shared/adapters/monitoring';
import { type Schedule, scheduleSchema } from '../../shared/policy/schema';
import type { Clock } from '../../shared/runtime/clock';
import { MemoryIdempotencyStore } from '../../shared/runtime/idempotency';
import { createMemoryLogger } from '../../shared/runtime/log';
import { scalingExecutor } from '../../shared/scaling/deps';
import type { ApplySchedulesDeps } from '../../shared/schedules/handler';
import type { ServedPool } from './served-pool';

export class TestClock implements Clock {
  constructor(public ms: number) {}
  nowMs(): number {
    return this.ms;
  }
  set(iso: string): void {
    this.ms = Date.parse(iso);
  }
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.min(ms, 50)));
  }
}

export function schedule(input: Record<string, unknown>): Schedule {
  return scheduleSchema.parse({ target: { all: true }, ...input });
}

export interface SchedulesHarness {
  deps: ApplySchedulesDeps;
  clock: TestClock;
  publisher: MemoryEventPublisher;
  entries: Record<string, unknown>[];
  /** A Pub/Sub delivery of `reconcile-schedules` (fresh id each call unless given). */
  tick(options?: {
    dryRun?: boolean;
    /** Decide as of this RFC 3339 time (the sandbox's time offset, `inferctl tick --at`). */
    at?: string;
    scope?: string[];
    id?: string;
  }): ReturnType<typeof import('../../shared/runtime/function').invoke>;
}

let ticks = 0;

export function schedulesHarness(served: ServedPool, schedules: Schedule[]): SchedulesHarness {
  const clock = new TestClock(Date.parse('2026-12-07T12:00:00Z'));
  const memory = createMemoryLogger();
  const publisher = new MemoryEventPublisher();
  const base = served.deploy;
  const shared = {
    ...base,
    policy: { ...base.policy, schedules },
    log: memory.logger,
    clock,
    publisher,
    idempotency: new MemoryIdempotencyStore(),
  };
  const deps: ApplySchedulesDeps = {
    ...shared,
    ports: served.ports,
    location: served.location,
    metrics: createMonitoringMetrics({
      project: base.config.project,
      endpoint: served.cloud.endpoints.monitoring,
      accessToken: LOCAL_ACCESS_TOKEN,
    }),
    executor: scalingExecutor({ ...shared, ports: served.ports }, 60_000),
    registry: base.registry,
    tritonPods: base.tritonPods,
    concurrency: 4,
  };
  const tick: SchedulesHarness['tick'] = async (options = {}) => {
    const { invoke } = await import('../../shared/runtime/function');
    const { applySchedulesFunction } = await import('../../shared/schedules/function');
    const command = {
      apiVersion: 'inferplane.dev/scheduler/v1',
      command: 'reconcile-schedules',
      ...(options.dryRun ? { dryRun: true } : {}),
      ...(options.scope ? { scope: { schedules: options.scope } } : {}),
      ...(options.at ? { at: options.at } : {}),
    };
    const id = options.id ?? `tick-${++ticks}`;
    return invoke(applySchedulesFunction, deps, {
      id,
      specversion: '1.0',
      source: '//pubsub.googleapis.com/projects/local-project/topics/inferplane-scheduler',
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      time: new Date(clock.nowMs()).toISOString(),
      data: {
        message: {
          data: Buffer.from(JSON.stringify(command)).toString('base64'),
          attributes: {},
          messageId: id,
          publishTime: new Date(clock.nowMs()).toISOString(),
        },
        subscription: 'projects/local-project/subscriptions/scheduler',
      },
    });
  };
  return { deps, clock, publisher, entries: memory.entries, tick };
}
