import { Cron } from 'croner';
import { HourglassError } from './errors';
import { assertPath, readPath } from './path';

/**
 * Recurring schedules: when the next occurrence of "every Monday at 09:00 in the user's
 * time zone" or "every 6 hours" falls, as an instant. Cron expressions are parsed and
 * matched by croner; this file only turns the local wall-clock times it finds into
 * instants, with an explicit policy for the times daylight saving repeats or skips.
 */

/**
 * What a recurring schedule does when daylight saving changes the clock.
 * - `repeated`: a local time that occurs twice (clocks go back): run at the `first`, the
 *   `last`, or `both`.
 * - `skipped`: a local time that never occurs (clocks go forward): `skip` that occurrence,
 *   or `shift` it forward by the length of the gap (02:30 becomes 03:30).
 */
export interface DstPolicy {
  readonly repeated: 'first' | 'last' | 'both';
  readonly skipped: 'skip' | 'shift';
}

/**
 * The default: run a repeated time once, at its first occurrence, and move a skipped time
 * forward by the gap: what `Temporal`'s `compatible` disambiguation and most calendars do,
 * so that a weekly 02:30 job runs every week, once.
 */
export const DEFAULT_DST_POLICY: DstPolicy = { repeated: 'first', skipped: 'shift' };

/** A compiled recurrence: a fixed interval, or a cron expression in a time zone. */
export type Recurrence =
  | { readonly kind: 'interval'; readonly periodMs: number; readonly label: string }
  | {
      readonly kind: 'cron';
      readonly expression: string;
      readonly cron: Cron;
      readonly dst: DstPolicy;
      readonly label: string;
    };

/**
 * Parses a cron expression with croner (5 fields, or 6 with seconds first). Throws an
 * HourglassError that quotes croner's reason.
 */
export function parseCron(expression: string): Cron {
  try {
    // Matched against local wall-clock times written as if they were UTC (see nextOccurrence).
    return new Cron(expression, { timezone: 'UTC', paused: true });
  } catch (error) {
    throw new HourglassError(
      `'${expression}' is not a cron expression (${(error as Error).message}); write five fields: minute hour day-of-month month day-of-week, e.g. '0 9 * * MON'`,
    );
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Throws unless `zone` is an IANA time zone this runtime knows (e.g. `Europe/Paris`). */
export function assertTimeZone(zone: unknown, field: string): asserts zone is string {
  if (typeof zone !== 'string' || zone.length === 0) {
    throw new HourglassError(`${field} must be an IANA time zone such as "Europe/Paris"`);
  }
  try {
    formatterFor(zone);
  } catch {
    throw new HourglassError(
      `${field} is ${JSON.stringify(zone)}, which is not an IANA time zone; use a name such as "Europe/Paris" or "America/New_York"`,
    );
  }
}

function formatterFor(zone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(zone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, formatter);
  }
  return formatter;
}

/** The local wall-clock time of `instant` in `zone`, written as if it were UTC (epoch ms). */
export function wallClock(instant: number, zone: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(zone).formatToParts(new Date(instant))) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  const wall = Date.UTC(
    parts.year!,
    parts.month! - 1,
    parts.day!,
    parts.hour!,
    parts.minute!,
    parts.second!,
  );
  return wall + (instant % 1_000);
}

const DAY_MS = 86_400_000;

/**
 * The instants at which a local wall-clock time occurs in `zone`: one as a rule, two when
 * clocks go back over it, none when they jump over it. Zones change their offset at most
 * once within a day, which is what the two offsets tried here rely on.
 */
export function instantsOf(wall: number, zone: string): number[] {
  const before = wallClock(wall - DAY_MS, zone) - (wall - DAY_MS);
  const after = wallClock(wall + DAY_MS, zone) - (wall + DAY_MS);
  const found = new Set<number>();
  for (const offset of [before, after]) {
    const instant = wall - offset;
    if (wallClock(instant, zone) === wall) found.add(instant);
  }
  return [...found].sort((a, b) => a - b);
}

/**
 * The instant a local wall-clock time means in `zone` under the default DST policy: the
 * first of a repeated time, a skipped one moved forward by the gap.
 */
export function instantOf(wall: number, zone: string): number {
  return runsOf(wall, zone, DEFAULT_DST_POLICY)[0]!;
}

/** The instants a matched wall-clock time runs at, under a DST policy. */
function runsOf(wall: number, zone: string, dst: DstPolicy): number[] {
  const instants = instantsOf(wall, zone);
  if (instants.length === 0) {
    if (dst.skipped === 'skip') return [];
    // Moved forward by the gap: the instant the pre-gap offset gives.
    return [wall - (wallClock(wall - DAY_MS, zone) - (wall - DAY_MS))];
  }
  if (instants.length === 1 || dst.repeated === 'both') return instants;
  return [dst.repeated === 'first' ? instants[0]! : instants.at(-1)!];
}

/** How far back the search for the next match starts: a DST change moves walls by at most this. */
const SEARCH_BACK_MS = 3 * 3_600_000;
/** Matches tried before giving up (a cron expression that matches only impossible dates). */
const MAX_MATCHES = 10_000;

/**
 * The first occurrence of `recurrence` strictly after `after` (epoch ms), in `zone`. An
 * interval counts elapsed time and ignores zones; a cron expression counts local
 * wall-clock time, with its DST policy. Returns null when a cron expression never matches
 * again.
 *
 * @example nextOccurrence(parseRecurrence({ cron: '0 9 * * MON' }), Date.now(), 'Europe/Paris')
 */
export function nextOccurrence(recurrence: Recurrence, after: number, zone: string): number | null {
  if (recurrence.kind === 'interval') return after + recurrence.periodMs;
  let cursor = new Date(wallClock(after, zone) - SEARCH_BACK_MS);
  for (let i = 0; i < MAX_MATCHES; i++) {
    const match = recurrence.cron.nextRun(cursor);
    if (match === null) return null;
    const next = runsOf(match.getTime(), zone, recurrence.dst).find((t) => t > after);
    if (next !== undefined) return next;
    cursor = match;
  }
  return null;
}

/** Where a time zone comes from, as written: an IANA name, or an event field with a default. */
export type TimeZoneSpec = string | { readonly path: string; readonly default?: string };

/** Where a time zone comes from, checked: a fixed zone, or an event field and its fallback. */
export type TimeZoneSource =
  | { readonly fixed: string }
  | { readonly path: string; readonly fallback: string };

/**
 * Checks a time-zone option (`field` names it in errors): the zone, or the path and the
 * default zone. Recurring schedules and journey controls both take one. @default 'UTC'
 */
export function compileTimeZone(spec: TimeZoneSpec | undefined, field: string): TimeZoneSource {
  const given = spec ?? 'UTC';
  if (typeof given === 'string') {
    assertTimeZone(given, field);
    return { fixed: given };
  }
  assertPath(given?.path, `${field}.path`);
  const fallback = given.default ?? 'UTC';
  assertTimeZone(fallback, `${field}.default`);
  return { path: given.path, fallback };
}

/**
 * The time zone for `event` (null: none, e.g. a timer's move): the fixed zone, the event's
 * field, or the fallback when the event has none. Throws, naming the field, when the event
 * gives one that is not a zone.
 */
export function timeZoneFor(source: TimeZoneSource, event: unknown): string {
  if ('fixed' in source) return source.fixed;
  const value = event === null ? undefined : readPath(event, source.path);
  if (value === undefined || value === null || value === '') return source.fallback;
  assertTimeZone(value, source.path);
  return value;
}
