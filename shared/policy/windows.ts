/**
 * Recurring time windows: `<Days> HH:MM-HH:MM <IANA zone>`, e.g. `Mon-Fri 20:00-07:00 Europe/Berlin`.
 * Unlike kube-downscaler, a window may cross midnight (end before start): it then starts on each
 * listed day and ends on the following day, so `Fri 20:00-07:00` runs until Saturday 07:00.
 */
import { ValidationError } from '../runtime/errors';

export interface DowntimeWindow {
  /** Days on which the window starts, 0 = Sunday .. 6 = Saturday, sorted, unique. */
  days: number[];
  /** Minutes after local midnight, 0..1439. */
  startMinute: number;
  /** Minutes after local midnight, 0..1440 (1440 = 24:00; an end of 00:00 crosses midnight). */
  endMinute: number;
  timeZone: string;
  /** True when endMinute < startMinute: the window ends on the next day. */
  crossesMidnight: boolean;
}

export const DAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;

export type WindowParseResult = { ok: true; window: DowntimeWindow } | { ok: false; message: string };

const FORMAT_HINT = 'expected "<Days> HH:MM-HH:MM <IANA zone>", e.g. "Mon-Fri 20:00-07:00 Europe/Berlin"';

/** Parses a window, returning the reason instead of throwing (used to list every problem of a file). */
export function tryParseWindow(text: string): WindowParseResult {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 3) return { ok: false, message: FORMAT_HINT };
  const [daysText, timesText, timeZone] = parts as [string, string, string];

  const days = parseDays(daysText);
  if (typeof days === 'string') return { ok: false, message: days };

  const times = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/.exec(timesText);
  if (!times) return { ok: false, message: `bad time range "${timesText}": ${FORMAT_HINT}` };
  const start = minuteOfDay(Number(times[1]), Number(times[2]), false);
  const end = minuteOfDay(Number(times[3]), Number(times[4]), true);
  if (start === undefined) return { ok: false, message: `bad start time in "${timesText}" (00:00 to 23:59)` };
  if (end === undefined) return { ok: false, message: `bad end time in "${timesText}" (00:00 to 24:00)` };
  // Equal start and end is ambiguous (empty or all day); KEDA users hit it as "never scales down".
  if (start === end) {
    return {
      ok: false,
      message: `empty window "${timesText}": start equals end (use 00:00-24:00 for a whole day)`,
    };
  }

  if (!isTimeZone(timeZone))
    return { ok: false, message: `unknown time zone "${timeZone}" (use an IANA zone)` };

  return {
    ok: true,
    window: { days, startMinute: start, endMinute: end, timeZone, crossesMidnight: end < start },
  };
}

/** @throws ValidationError when the window does not parse. */
export function parseWindow(text: string): DowntimeWindow {
  const parsed = tryParseWindow(text);
  if (!parsed.ok) throw new ValidationError(`Window "${text}"`, [{ path: '', message: parsed.message }]);
  return parsed.window;
}

function dayIndex(name: string): number | undefined {
  const i = DAY_NAMES.findIndex((d) => d.toLowerCase() === name.toLowerCase());
  return i === -1 ? undefined : i;
}

/** `Mon`, `Sat,Sun`, `Mon-Fri`, `Mon-Wed,Fri`; a range may wrap the week (`Fri-Mon`). */
function parseDays(text: string): number[] | string {
  const days = new Set<number>();
  for (const item of text.split(',')) {
    const range = item.split('-');
    if (range.length > 2) return `bad days "${text}": use names like Mon, Sat,Sun or Mon-Fri`;
    const from = dayIndex(range[0] ?? '');
    const to = range.length === 2 ? dayIndex(range[1] ?? '') : from;
    if (from === undefined || to === undefined) {
      return `bad days "${text}": use ${DAY_NAMES.join(', ')} (single, comma list or range like Mon-Fri)`;
    }
    for (let d = from; ; d = (d + 1) % 7) {
      days.add(d);
      if (d === to) break;
    }
  }
  return [...days].sort((a, b) => a - b);
}

function minuteOfDay(hours: number, minutes: number, isEnd: boolean): number | undefined {
  if (minutes > 59) return undefined;
  if (hours === 24 && minutes === 0) return isEnd ? 1440 : undefined;
  if (hours > 23) return undefined;
  return hours * 60 + minutes;
}

const zoneCache = new Map<string, boolean>();

export function isTimeZone(zone: string): boolean {
  let known = zoneCache.get(zone);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      known = true;
    } catch {
      known = false;
    }
    zoneCache.set(zone, known);
  }
  return known;
}
