import { describe, expect, it } from 'vitest';
import {
  intervalAt,
  localParts,
  type ScheduleTimes,
  scheduleIntervals,
  unionIntervals,
  wallTimeToInstant,
} from '../../shared/schedules/calendar';

const t = (iso: string) => Date.parse(iso);
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

function schedule(downtime: string[], over: Partial<ScheduleTimes> = {}): ScheduleTimes {
  return { name: 'nights', downtime, holidays: [], freezes: [], ...over };
}

describe('wallTimeToInstant', () => {
  it.each([
    // Plain offsets, winter and summer.
    ['Europe/Berlin', '2026-01-15', 20 * 60, '2026-01-15T19:00:00.000Z'],
    ['Europe/Berlin', '2026-07-15', 20 * 60, '2026-07-15T18:00:00.000Z'],
    // Spring forward (Berlin 29 Mar 2026 02:00 -> 03:00): 02:30 does not exist, moved forward by the gap.
    ['Europe/Berlin', '2026-03-29', 150, '2026-03-29T01:30:00.000Z'],
    ['Europe/Berlin', '2026-03-29', 180, '2026-03-29T01:00:00.000Z'],
    // Fall back (Berlin 25 Oct 2026 03:00 -> 02:00): 02:30 happens twice, the first one is taken.
    ['Europe/Berlin', '2026-10-25', 150, '2026-10-25T00:30:00.000Z'],
    // New York: spring 8 Mar 2026 02:00 -> 03:00, autumn 1 Nov 2026 02:00 -> 01:00.
    ['America/New_York', '2026-03-08', 150, '2026-03-08T07:30:00.000Z'],
    ['America/New_York', '2026-11-01', 90, '2026-11-01T05:30:00.000Z'],
    // 24:00 is the next midnight.
    ['UTC', '2026-01-01', 1440, '2026-01-02T00:00:00.000Z'],
  ])('%s %s minute %i is %s', (zone, date, minute, expected) => {
    const [year, month, day] = date.split('-').map(Number) as [number, number, number];
    expect(iso(wallTimeToInstant({ year, month, day }, minute, zone))).toBe(expected);
  });

  it('reads back as the wall time it was made from (outside the gap)', () => {
    const ms = wallTimeToInstant({ year: 2026, month: 10, day: 25 }, 150, 'Europe/Berlin');
    expect(localParts(ms, 'Europe/Berlin')).toMatchObject({ year: 2026, month: 10, day: 25, minute: 150 });
  });
});

describe('intervalAt: one schedule', () => {
  const nights = schedule(['Mon-Fri 20:00-07:00 Europe/Berlin']);
  it.each([
    // Crosses midnight: Friday's window runs until Saturday 07:00.
    ['2026-12-04T22:00:00Z', '2026-12-04T19:00:00.000Z', '2026-12-05T06:00:00.000Z'],
    ['2026-12-05T05:59:00Z', '2026-12-04T19:00:00.000Z', '2026-12-05T06:00:00.000Z'],
    // Saturday day: no window (Saturday is not a start day).
    ['2026-12-05T12:00:00Z', undefined, undefined],
    // Monday morning before 07:00 Berlin: Sunday did not start a window.
    ['2026-12-07T05:00:00Z', undefined, undefined],
    // Start is inclusive, end exclusive.
    ['2026-12-07T19:00:00Z', '2026-12-07T19:00:00.000Z', '2026-12-08T06:00:00.000Z'],
    ['2026-12-08T06:00:00Z', undefined, undefined],
  ])('at %s: %s .. %s', (now, start, end) => {
    const i = intervalAt([nights], t(now));
    expect([iso(i?.start), iso(i?.end)]).toEqual([start, end]);
  });

  it.each([
    // Berlin spring forward, night of Sat 28 -> Sun 29 Mar 2026: the night is one hour shorter.
    ['Europe/Berlin', 'Sat 22:00-06:00 Europe/Berlin', '2026-03-29T00:00:00Z', 7],
    // Berlin fall back, night of Sat 24 -> Sun 25 Oct 2026: one hour longer.
    ['Europe/Berlin', 'Sat 22:00-06:00 Europe/Berlin', '2026-10-25T00:00:00Z', 9],
    // New York spring forward, night of Sat 7 -> Sun 8 Mar 2026.
    ['America/New_York', 'Sat 22:00-06:00 America/New_York', '2026-03-08T06:00:00Z', 7],
    // New York fall back, night of Sat 31 Oct -> Sun 1 Nov 2026.
    ['America/New_York', 'Sat 22:00-06:00 America/New_York', '2026-11-01T06:00:00Z', 9],
  ])('DST in %s: %s around %s lasts %i h and ends at 06:00 local', (zone, window, now, hours) => {
    const i = intervalAt([schedule([window])], t(now));
    expect(i).toBeDefined();
    expect(((i?.end ?? 0) - (i?.start ?? 0)) / 3_600_000).toBe(hours);
    expect(localParts(i?.end ?? 0, zone).minute).toBe(360);
    expect(localParts(i?.start ?? 0, zone).minute).toBe(22 * 60);
  });

  it('a window starting inside the spring-forward gap starts when the gap ends, not never', () => {
    const i = intervalAt([schedule(['Sun 02:30-05:00 Europe/Berlin'])], t('2026-03-29T02:00:00Z'));
    expect(iso(i?.start)).toBe('2026-03-29T01:30:00.000Z');
    expect(iso(i?.end)).toBe('2026-03-29T03:00:00.000Z');
  });

  it('a window in the repeated hour starts at its first occurrence, once', () => {
    const s = schedule(['Sun 01:30-04:00 America/New_York']);
    const all = scheduleIntervals(s, t('2026-10-31T00:00:00Z'), t('2026-11-02T00:00:00Z'));
    expect(all.map((i) => [iso(i.start), iso(i.end)])).toEqual([
      ['2026-11-01T05:30:00.000Z', '2026-11-01T09:00:00.000Z'],
    ]);
  });
});

describe('holidays and freezes', () => {
  it('a holiday is downtime all day in the schedule zone, joined with the nights around it', () => {
    const s = schedule(['Mon-Fri 20:00-07:00 Europe/Berlin'], { holidays: ['2026-12-24'] });
    // Wed 23 Dec 20:00 -> Thu 24 all day -> Thu 24 20:00 -> Fri 25 07:00: one downtime.
    const i = intervalAt([s], t('2026-12-24T12:00:00Z'));
    expect([iso(i?.start), iso(i?.end)]).toEqual(['2026-12-23T19:00:00.000Z', '2026-12-25T06:00:00.000Z']);
  });

  it('a freeze lifts the downtime for its period and cuts the window around it', () => {
    const s = schedule(['Mon-Fri 20:00-07:00 UTC'], {
      freezes: [{ from: '2026-12-08T02:00:00Z', until: '2026-12-08T04:00:00Z' }],
    });
    expect(intervalAt([s], t('2026-12-08T03:00:00Z'))).toBeUndefined();
    expect(iso(intervalAt([s], t('2026-12-08T01:00:00Z'))?.end)).toBe('2026-12-08T02:00:00.000Z');
    expect(iso(intervalAt([s], t('2026-12-08T05:00:00Z'))?.start)).toBe('2026-12-08T04:00:00.000Z');
  });

  it('a freeze given as dates covers whole days in the schedule zone', () => {
    const s = schedule(['Mon-Sun 00:00-24:00 Europe/Berlin'], {
      freezes: [{ from: '2026-11-27', until: '2026-11-28' }],
    });
    expect(intervalAt([s], t('2026-11-26T23:30:00Z'))).toBeUndefined(); // 00:30 Berlin on the 27th
    expect(intervalAt([s], t('2026-11-27T22:30:00Z'))).toBeUndefined();
    expect(intervalAt([s], t('2026-11-27T23:30:00Z'))).toBeDefined();
  });
});

describe('overlaps', () => {
  it('windows of one schedule that meet are one downtime (no flapping where they meet)', () => {
    const s = schedule(['Fri 20:00-24:00 UTC', 'Sat-Sun 00:00-24:00 UTC', 'Mon 00:00-07:00 UTC']);
    const i = intervalAt([s], t('2026-12-05T12:00:00Z'));
    expect([iso(i?.start), iso(i?.end)]).toEqual(['2026-12-04T20:00:00.000Z', '2026-12-07T07:00:00.000Z']);
  });

  it('several schedules: the union, named after the one that ends last', () => {
    const a = schedule(['Mon-Fri 20:00-07:00 UTC'], { name: 'nights' });
    const b = schedule(['Sat 06:00-12:00 UTC'], { name: 'saturday-maintenance' });
    const i = intervalAt([a, b], t('2026-12-05T05:00:00Z'));
    expect([iso(i?.start), iso(i?.end), i?.schedule]).toEqual([
      '2026-12-04T20:00:00.000Z',
      '2026-12-05T12:00:00.000Z',
      'saturday-maintenance',
    ]);
  });

  it("one schedule's freeze does not lift another's window", () => {
    const a = schedule(['Mon-Fri 20:00-07:00 UTC'], {
      name: 'a',
      freezes: [{ from: '2026-12-01', until: '2026-12-31' }],
    });
    const b = schedule(['Tue 22:00-23:00 UTC'], { name: 'b' });
    expect(intervalAt([a, b], t('2026-12-08T22:30:00Z'))?.schedule).toBe('b');
    expect(intervalAt([a, b], t('2026-12-08T21:30:00Z'))).toBeUndefined();
  });

  it('lists each interval once over a long range', () => {
    const s = schedule(['Mon-Fri 20:00-07:00 UTC']);
    const all = unionIntervals([s], t('2026-12-07T00:00:00Z'), t('2026-12-14T00:00:00Z'));
    // Sun-Mon? no; Fri 4th's night ends Sat 5th (before the range); Mon..Fri nights: 5, the last ends Sat 12th.
    expect(all.map((i) => iso(i.start))).toEqual([
      '2026-12-07T20:00:00.000Z',
      '2026-12-08T20:00:00.000Z',
      '2026-12-09T20:00:00.000Z',
      '2026-12-10T20:00:00.000Z',
      '2026-12-11T20:00:00.000Z',
    ]);
  });
});
