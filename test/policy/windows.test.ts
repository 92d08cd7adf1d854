import { describe, expect, it } from 'vitest';
import { type DowntimeWindow, parseWindow, tryParseWindow } from '../../shared/policy/windows';
import { ValidationError } from '../../shared/runtime/errors';

describe('parseWindow', () => {
  it.each<[string, DowntimeWindow]>([
    [
      'Mon-Fri 20:00-07:00 Europe/Berlin',
      {
        days: [1, 2, 3, 4, 5],
        startMinute: 1200,
        endMinute: 420,
        timeZone: 'Europe/Berlin',
        crossesMidnight: true,
      },
    ],
    [
      'Sat-Sun 00:00-24:00 Europe/Berlin',
      { days: [0, 6], startMinute: 0, endMinute: 1440, timeZone: 'Europe/Berlin', crossesMidnight: false },
    ],
    [
      'Sat,Sun 08:30-17:45 America/New_York',
      {
        days: [0, 6],
        startMinute: 510,
        endMinute: 1065,
        timeZone: 'America/New_York',
        crossesMidnight: false,
      },
    ],
    [
      'Mon 23:00-01:00 UTC',
      { days: [1], startMinute: 1380, endMinute: 60, timeZone: 'UTC', crossesMidnight: true },
    ],
    [
      'Tue 22:00-00:00 UTC',
      { days: [2], startMinute: 1320, endMinute: 0, timeZone: 'UTC', crossesMidnight: true },
    ],
    [
      'Fri-Mon 00:00-06:00 Asia/Tokyo',
      { days: [0, 1, 5, 6], startMinute: 0, endMinute: 360, timeZone: 'Asia/Tokyo', crossesMidnight: false },
    ],
    [
      'Mon-Wed,Fri 09:00-10:00 Europe/London',
      {
        days: [1, 2, 3, 5],
        startMinute: 540,
        endMinute: 600,
        timeZone: 'Europe/London',
        crossesMidnight: false,
      },
    ],
    [
      '  mon-FRI   20:00-07:00   Europe/Berlin ',
      {
        days: [1, 2, 3, 4, 5],
        startMinute: 1200,
        endMinute: 420,
        timeZone: 'Europe/Berlin',
        crossesMidnight: true,
      },
    ],
  ])('parses "%s"', (text, expected) => {
    expect(parseWindow(text)).toEqual(expected);
  });

  it.each([
    ['bad zone', 'Mon-Fri 20:00-07:00 Europe/Atlantis', /unknown time zone "Europe\/Atlantis"/],
    ['bad day name', 'Mon-Fry 20:00-07:00 UTC', /bad days "Mon-Fry"/],
    ['three-part day range', 'Mon-Wed-Fri 20:00-07:00 UTC', /bad days/],
    ['empty day list item', 'Mon,,Fri 20:00-07:00 UTC', /bad days/],
    ['start at 24:00', 'Mon 24:00-07:00 UTC', /bad start time/],
    ['hour 25', 'Mon 20:00-25:00 UTC', /bad end time/],
    ['minute 60', 'Mon 20:60-21:00 UTC', /bad start time/],
    ['single-digit hour', 'Mon 8:00-17:00 UTC', /bad time range/],
    ['start equals end', 'Mon 08:00-08:00 UTC', /empty window/],
    ['missing zone', 'Mon-Fri 20:00-07:00', /expected "<Days> HH:MM-HH:MM <IANA zone>"/],
    ['extra token', 'Mon-Fri 20:00-07:00 UTC now', /expected/],
  ])('refuses a window with a %s', (_what, text, message) => {
    // Act
    const parsed = tryParseWindow(text);

    // Assess
    expect(parsed.ok).toBe(false);
    expect(parsed.ok ? '' : parsed.message).toMatch(message);
    expect(() => parseWindow(text)).toThrow(ValidationError);
  });
});
