import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseSchedulerCommand } from '../../events/scheduler';
import { startScheduler, tickMessage } from '../../scripts/sandbox/scheduler';

afterEach(() => {
  vi.useRealTimers();
});

describe('the simulated Cloud Scheduler', () => {
  it.each([
    { offsetMs: 0, at: undefined },
    { offsetMs: 10 * 3_600_000, at: '2026-12-02T11:00:00.000Z' },
    { offsetMs: -3_600_000, at: '2026-12-02T00:00:00.000Z' },
  ])('a tick with offset $offsetMs ms evaluates at $at', ({ offsetMs, at }) => {
    // Act
    const parsed = parseSchedulerCommand(tickMessage(Date.parse('2026-12-02T01:00:00Z'), offsetMs));

    // Assess
    expect(parsed.command === 'reconcile-schedules' ? parsed.at : 'wrong command').toBe(at);
  });

  it('publishes ticks and security ticks on their own periods, and stops', async () => {
    // Prepare
    vi.useFakeTimers();
    const sent: Array<{ topic: string; command: string; job?: string }> = [];
    const scheduler = startScheduler({
      ticksTopic: 'ticks',
      securityTopic: 'security',
      tickEveryMs: 30_000,
      securityEveryMs: 60_000,
      offsetMs: 0,
      publish: async (topic, data, attributes) => {
        sent.push({
          topic,
          command: (JSON.parse(data.toString()) as { command: string }).command,
          job: attributes['inferplane-job'],
        });
      },
    });

    // Act
    await vi.advanceTimersByTimeAsync(120_000);
    scheduler.stop();
    await vi.advanceTimersByTimeAsync(120_000);

    // Assess
    expect(sent.filter((s) => s.topic === 'ticks')).toHaveLength(4);
    expect(sent.filter((s) => s.topic === 'security')).toHaveLength(2);
    expect(sent.find((s) => s.topic === 'security')).toEqual({
      topic: 'security',
      command: 'rotate-security',
      job: 'sandbox-rotate-security',
    });
  });
});
