import { TimeFormatError } from './errors';

/** Milliseconds in one second, minute, hour, day: durations are whole milliseconds everywhere. */
export const MS = { second: 1_000, minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: MS.second,
  m: MS.minute,
  h: MS.hour,
  d: MS.day,
  w: 7 * MS.day,
};

const SHORT_DURATION = /^(\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/;
const SHORT_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/g;
const ISO_DURATION =
  /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;
const DURATION_HELP =
  'a duration such as "20s", "30m", "1h30m", "3d" or an ISO-8601 duration such as "PT30M" (no years or months)';

/**
 * Parses a duration into milliseconds.
 *
 * Accepts the short form (`"500ms"`, `"20s"`, `"30m"`, `"2h"`, `"3d"`, `"1w"`, combined as
 * `"1h30m"`) and ISO-8601 durations without years or months (`"PT30M"`, `"P3D"`,
 * `"P1DT2H"`), whose length depends on the calendar.
 *
 * @param value - the duration as written in a definition or an event
 * @param field - the name of the field that holds it, used in the error message
 * @throws TimeFormatError naming the field when the value is not a duration
 * @example parseDuration('30m', 'after') // 1_800_000
 */
export function parseDuration(value: unknown, field: string): number {
  if (typeof value !== 'string') throw new TimeFormatError(field, value, DURATION_HELP);
  const text = value.trim();
  if (SHORT_DURATION.test(text)) {
    let total = 0;
    for (const [, amount, unit] of text.matchAll(SHORT_PART)) {
      total += Number(amount) * (UNIT_MS[unit as string] as number);
    }
    return Math.round(total);
  }
  const iso = ISO_DURATION.exec(text);
  if (iso && text !== 'P' && !text.endsWith('T')) {
    const [, weeks, days, hours, minutes, seconds] = iso.map((part) => Number(part ?? 0));
    return Math.round(
      (weeks as number) * 7 * MS.day +
        (days as number) * MS.day +
        (hours as number) * MS.hour +
        (minutes as number) * MS.minute +
        (seconds as number) * MS.second,
    );
  }
  throw new TimeFormatError(field, value, DURATION_HELP);
}

// Date, time, optional fraction, and an explicit offset: a time without an offset is
// ambiguous across regions, so it is refused rather than guessed.
const ISO_INSTANT =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;
const INSTANT_HELP =
  'an ISO-8601 time with a UTC offset, such as "2026-11-22T09:30:00Z" or "2026-11-22T10:30:00+01:00"';

/**
 * Parses an ISO-8601 point in time with any UTC offset into epoch milliseconds.
 *
 * @param value - the time as it appears in an event (`time`, `detail.publishAt`, …)
 * @param field - the name of the field that holds it, used in the error message
 * @throws TimeFormatError naming the field when the value is not a time with an offset
 * @example parseInstant('2026-11-22T10:30:00+01:00', 'detail.sendAt') // 1795339800000
 */
export function parseInstant(value: unknown, field: string): number {
  if (typeof value !== 'string' || !ISO_INSTANT.test(value.trim())) {
    throw new TimeFormatError(field, value, INSTANT_HELP);
  }
  const ms = Date.parse(value.trim());
  if (Number.isNaN(ms)) throw new TimeFormatError(field, value, INSTANT_HELP);
  return ms;
}

/** Formats epoch milliseconds as an ISO-8601 UTC time (`2026-11-22T09:30:00.000Z`). */
export function formatInstant(ms: number): string {
  return new Date(ms).toISOString();
}

/** Formats milliseconds as the shortest short-form duration that states it (`"1h30m"`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const [unit, size] of [
    ['d', MS.day],
    ['h', MS.hour],
    ['m', MS.minute],
    ['s', MS.second],
    ['ms', 1],
  ] as const) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return text;
}
