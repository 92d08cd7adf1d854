/**
 * Wall-clock time in IANA zones, and the downtime intervals of a schedule as instants (pure).
 *
 * A window is wall-clock time: `Mon-Fri 20:00-07:00 Europe/Berlin` starts when Berlin's clocks
 * read Monday 20:00 and ends when they read Tuesday 07:00, whatever the offset. Across the two
 * daylight-saving transitions a wall time is resolved as Temporal's `compatible` disambiguation
 * does: a time that does not exist (the spring-forward gap, e.g. 02:30) is moved forward by the
 * gap's length (03:30), and a time that exists twice (the fall-back hour) is its first occurrence.
 * So a night window is one hour shorter in spring and one hour longer in autumn, never skipped,
 * never doubled.
 */
import { isIsoDate } from '../policy/schema';
import { type DowntimeWindow, parseWindow } from '../policy/windows';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export interface LocalDate {
  year: number;
  /** 1..12 */
  month: number;
  day: number;
}

export interface LocalParts extends LocalDate {
  /** 0 = Sunday .. 6 = Saturday */
  weekday: number;
  /** Minutes after local midnight. */
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/** The wall clock of `zone` at an instant (to the second; seconds are dropped from `minute`). */
export function localParts(ms: number, zone: string): LocalParts & { second: number } {
  const parts: Record<string, number> = {};
  for (const p of formatterOf(zone).formatToParts(new Date(ms))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const year = parts.year ?? 1970;
  const month = parts.month ?? 1;
  const day = parts.day ?? 1;
  const hour = (parts.hour ?? 0) % 24;
  return {
    year,
    month,
    day,
    weekday: new Date(Date.UTC(year, month - 1, day)).getUTCDay(),
    minute: hour * 60 + (parts.minute ?? 0),
    second: parts.second ?? 0,
  };
}

/** The zone's offset from UTC at an instant, in minutes (Berlin in summer: 120). */
export function offsetMinutes(ms: number, zone: string): number {
  const p = localParts(ms, zone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, 0, p.minute, p.second);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / MINUTE_MS);
}

export function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

export function weekdayOf(date: LocalDate): number {
  return new Date(Date.UTC(date.year, date.month - 1, date.day)).getUTCDay();
}

export function formatDate(date: LocalDate): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(date.year, 4)}-${pad(date.month)}-${pad(date.day)}`;
}

export function parseDate(text: string): LocalDate {
  const [y, m, d] = text.split('-').map(Number);
  return { year: y ?? 1970, month: m ?? 1, day: d ?? 1 };
}

/**
 * The instant the zone's clocks read `minute` (0..1440) on `date`; gaps move forward, repeated
 * times take their first occurrence (see the file comment).
 */
export function wallTimeToInstant(date: LocalDate, minute: number, zone: string): number {
  const wall = Date.UTC(date.year, date.month - 1, date.day, 0, minute);
  // Offsets a day either side bracket any transition near this wall time.
  const before = offsetMinutes(wall - DAY_MS, zone);
  const after = offsetMinutes(wall + DAY_MS, zone);
  const candidates = [...new Set([before, after])]
    .map((off) => wall - off * MINUTE_MS)
    .filter((t) => wall - offsetMinutes(t, zone) * MINUTE_MS === t)
    .sort((a, b) => a - b);
  const first = candidates[0];
  if (first !== undefined) return first;
  // In the gap: read with the offset in force before it, which lands past the gap by its length.
  return wall - before * MINUTE_MS;
}

/** A half-open interval of instants [start, end), with the schedule that made it. */
export interface Interval {
  start: number;
  end: number;
  schedule: string;
}

/** What the window maths needs of a schedule (the policy's `Schedule` fits). */
export interface ScheduleTimes {
  name: string;
  downtime: readonly string[];
  holidays: readonly string[];
  timeZone?: string | undefined;
  freezes: readonly { from: string; until: string }[];
}

/** The zone of a schedule's holidays and date freezes. */
export function scheduleZone(schedule: ScheduleTimes): string {
  if (schedule.timeZone) return schedule.timeZone;
  const first = schedule.downtime[0];
  return first ? parseWindow(first).timeZone : 'UTC';
}

/** A freeze bound as an instant: a date is the start of that day in the schedule's zone. */
export function freezeInstant(text: string, zone: string): number {
  return isIsoDate(text) ? wallTimeToInstant(parseDate(text), 0, zone) : Date.parse(text);
}

/** Each occurrence of one window whose start day lies in [from, to] (local dates in its zone). */
function windowOccurrences(w: DowntimeWindow, fromMs: number, toMs: number, schedule: string): Interval[] {
  const out: Interval[] = [];
  const first = localParts(fromMs, w.timeZone);
  const last = localParts(toMs, w.timeZone);
  // One day earlier: an occurrence that started yesterday may still run (midnight crossing).
  let date = addDays(first, -1);
  const stop = formatDate(last);
  for (let guard = 0; guard < 100_000; guard++) {
    if (w.days.includes(weekdayOf(date))) {
      const start = wallTimeToInstant(date, w.startMinute, w.timeZone);
      const end = w.crossesMidnight
        ? wallTimeToInstant(addDays(date, 1), w.endMinute, w.timeZone)
        : wallTimeToInstant(date, w.endMinute, w.timeZone);
      if (end > start) out.push({ start, end, schedule });
    }
    if (formatDate(date) >= stop) break;
    date = addDays(date, 1);
  }
  return out;
}

/** Sorts and joins intervals that overlap or touch; the joined interval keeps the latest-ending schedule. */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Interval[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i.start <= last.end) {
      if (i.end > last.end || (i.end === last.end && i.schedule < last.schedule)) {
        last.end = i.end;
        last.schedule = i.schedule;
      }
    } else {
      out.push({ ...i });
    }
  }
  return out;
}

/** Removes [from, until) periods from sorted, disjoint intervals. */
function subtract(
  intervals: readonly Interval[],
  holes: readonly { start: number; end: number }[],
): Interval[] {
  let out = [...intervals];
  for (const hole of holes) {
    if (!(hole.end > hole.start)) continue;
    out = out.flatMap((i) => {
      if (hole.end <= i.start || hole.start >= i.end) return [i];
      const parts: Interval[] = [];
      if (hole.start > i.start) parts.push({ ...i, end: hole.start });
      if (hole.end < i.end) parts.push({ ...i, start: hole.end });
      return parts;
    });
  }
  return out;
}

/**
 * A schedule's downtime between two instants: its windows and whole-day holidays, joined where
 * they overlap or touch (so two windows that meet are one downtime, no flapping), minus its
 * freezes. Intervals that reach outside [from, to) are returned whole, as far as they were looked at.
 */
export function scheduleIntervals(schedule: ScheduleTimes, fromMs: number, toMs: number): Interval[] {
  return overlapping(wholeIntervals(schedule, fromMs, toMs), fromMs, toMs);
}

function overlapping(intervals: readonly Interval[], fromMs: number, toMs: number): Interval[] {
  return intervals.filter((i) => i.end > fromMs && i.start < toMs);
}

/**
 * The last range each schedule was looked at over, with its intervals: a tick asks the same
 * instant for each of its targets (a thousand targets, one schedule), and each answer costs
 * hundreds of time-zone conversions. Keyed by the schedule object (a loaded policy's schedules
 * are not changed in place); callers get copies.
 */
const lastLook = new WeakMap<ScheduleTimes, { fromMs: number; toMs: number; intervals: Interval[] }>();

/** A schedule's intervals a week either side of the range (so one that overlaps it is seen whole). */
function wholeIntervals(schedule: ScheduleTimes, fromMs: number, toMs: number): Interval[] {
  const hit = lastLook.get(schedule);
  if (hit && hit.fromMs === fromMs && hit.toMs === toMs) return hit.intervals.map((i) => ({ ...i }));
  const intervals = computeWholeIntervals(schedule, fromMs, toMs);
  lastLook.set(schedule, { fromMs, toMs, intervals: intervals.map((i) => ({ ...i })) });
  return intervals;
}

function computeWholeIntervals(schedule: ScheduleTimes, fromMs: number, toMs: number): Interval[] {
  const lo = fromMs - 8 * DAY_MS;
  const hi = toMs + 8 * DAY_MS;
  const raw: Interval[] = [];
  for (const text of schedule.downtime) {
    raw.push(...windowOccurrences(parseWindow(text), lo, hi, schedule.name));
  }
  const zone = scheduleZone(schedule);
  for (const holiday of schedule.holidays) {
    const date = parseDate(holiday);
    const start = wallTimeToInstant(date, 0, zone);
    const end = wallTimeToInstant(addDays(date, 1), 0, zone);
    if (end > lo && start < hi) raw.push({ start, end, schedule: schedule.name });
  }
  const freezes = schedule.freezes.map((f) => ({
    start: freezeInstant(f.from, zone),
    end: freezeInstant(f.until, zone),
  }));
  return subtract(mergeIntervals(raw), freezes);
}

/**
 * The overlap rule: a target named by several schedules is down while any of them is down (the
 * union of their downtime, each without its own freezes), and the joined downtime is attributed
 * to the schedule whose window ends last (by name when two end together).
 */
export function unionIntervals(
  schedules: readonly ScheduleTimes[],
  fromMs: number,
  toMs: number,
): Interval[] {
  return overlapping(mergeIntervals(schedules.flatMap((s) => wholeIntervals(s, fromMs, toMs))), fromMs, toMs);
}

/** The downtime interval in force at an instant, if any. */
export function intervalAt(schedules: readonly ScheduleTimes[], ms: number): Interval | undefined {
  return unionIntervals(schedules, ms, ms + 1).find((i) => i.start <= ms && ms < i.end);
}
