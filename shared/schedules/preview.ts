/**
 * `inferctl schedule preview` (pure): the transitions the schedules will make between two instants,
 * per target: when it scales down, when its warm restore starts (the lead time before the window
 * ends) and when the window ends, with the saving each downtime is expected to bring.
 */
import type { Policy } from '../policy/schema';
import { HOUR_MS, MINUTE_MS, unionIntervals } from './calendar';
import { expectedRate, roundSaving, type Saving } from './savings';
import { type TargetUniverse, targetsBySchedule } from './targets';

export type PreviewAction = 'scale-down' | 'warm-restore' | 'window-end';

export interface Transition {
  time: string;
  target: string;
  schedule: string;
  action: PreviewAction;
  /** For a scale-down: what the whole downtime is expected to save (at the policy's minimum replicas). */
  expectedSaving?: Saving;
}

export function previewTransitions(
  policy: Policy,
  universe: TargetUniverse,
  fromMs: number,
  toMs: number,
): Transition[] {
  const out: Transition[] = [];
  for (const [target, schedules] of targetsBySchedule(policy, universe)) {
    const lead = Math.max(...schedules.map((s) => s.leadTimeMinutes)) * MINUTE_MS;
    const rate = expectedRate(policy, target);
    for (const i of unionIntervals(schedules, fromMs, toMs)) {
      const restoreAt = i.end - lead;
      const within = (t: number) => t >= fromMs && t < toMs;
      if (within(i.start) && restoreAt > i.start) {
        const hours = (restoreAt - i.start) / HOUR_MS;
        out.push({
          time: new Date(i.start).toISOString(),
          target,
          schedule: i.schedule,
          action: 'scale-down',
          expectedSaving: roundSaving({ gpuHours: rate.gpuHours * hours, usd: rate.usd * hours }),
        });
      }
      if (within(restoreAt) && restoreAt > i.start) {
        out.push({
          time: new Date(restoreAt).toISOString(),
          target,
          schedule: i.schedule,
          action: 'warm-restore',
        });
      }
      if (within(i.end)) {
        out.push({ time: new Date(i.end).toISOString(), target, schedule: i.schedule, action: 'window-end' });
      }
    }
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.target < b.target ? -1 : 1));
}
