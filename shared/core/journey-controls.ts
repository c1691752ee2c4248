import { DefinitionError, describeValue, HourglassError } from './errors';
import type { WorkflowEvent } from './event-types';
import { assertPath, readPath } from './path';
import {
  compileTimeZone,
  instantOf,
  instantsOf,
  type TimeZoneSource,
  type TimeZoneSpec,
  timeZoneFor,
  wallClock,
} from './recurrence';
import type { TaskJourney } from './task-types';
import { formatDuration, MS, parseDuration } from './time';
import { assertName, within } from './validation';

/**
 * Journey controls: guard rails a marketing or product team sets once and every task type
 * that sends to people shares, across workflows: quiet hours in the person's time zone, and
 * frequency caps ("at most 2 marketing messages per user per day, and 5 per week").
 */

/** Options of {@link defineJourneyControl}. */
export interface JourneyControlOptions {
  /** Kebab-case, unique: names the control in timelines and the caps' counters. */
  readonly name: string;
  /**
   * The person's time zone: an IANA name, or read from the event that schedules the task,
   * with a default for events without one. @default 'UTC'
   */
  readonly timeZone?: TimeZoneSpec;
  /** Local hours in which no task runs, e.g. `{ from: '21:00', to: '08:00' }` (may wrap midnight). */
  readonly quietHours?: { readonly from: string; readonly to: string };
  /** At most `max` tasks in any window of `per`, e.g. `[{ max: 2, per: '1d' }, { max: 5, per: '7d' }]`. */
  readonly caps?: readonly { readonly max: number; readonly per: string }[];
  /**
   * Whose caps a task counts against: the path to the person in the event that schedules
   * it. @default the workflow's key
   */
  readonly key?: string;
}

/** A validated journey control. Build it with {@link defineJourneyControl}. */
export interface JourneyControl {
  readonly kind: 'journey-control';
  readonly name: string;
  readonly zone: TimeZoneSource;
  /** Minutes after local midnight; `label` as written, e.g. `21:00–08:00`. */
  readonly quietHours: {
    readonly from: number;
    readonly to: number;
    readonly label: string;
  } | null;
  readonly caps: readonly {
    readonly max: number;
    readonly perMs: number;
    readonly label: string;
  }[];
  readonly keyPath: string | null;
}

const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes after midnight of an `HH:MM` time; throws naming the field. */
function minutesOf(value: unknown, field: string, where: string): number {
  const match = typeof value === 'string' ? CLOCK.exec(value) : null;
  if (match === null) {
    throw new DefinitionError(
      where,
      `${field} must be a local time "HH:MM" (24-hour), got ${describeValue(value)}`,
    );
  }
  return Number(match[1]) * 60 + Number(match[2]);
}

/**
 * Declares a journey control. Give it to task types (`defineTaskType({ journey: { control }
 * })`): their tasks never fall due in its quiet hours, and count against its caps.
 *
 * @example
 * const marketing = defineJourneyControl({
 *   name: 'marketing',
 *   timeZone: { path: 'detail.timeZone', default: 'Europe/Paris' },
 *   quietHours: { from: '21:00', to: '08:00' },
 *   caps: [{ max: 2, per: '1d' }, { max: 5, per: '7d' }],
 * });
 */
export function defineJourneyControl(options: JourneyControlOptions): JourneyControl {
  const where = `journey control '${String(options?.name)}'`;
  assertName(options?.name, where);
  const zone = within(where, () => compileTimeZone(options.timeZone, 'timeZone'));
  let quietHours: JourneyControl['quietHours'] = null;
  if (options.quietHours !== undefined) {
    const from = minutesOf(options.quietHours?.from, 'quietHours.from', where);
    const to = minutesOf(options.quietHours?.to, 'quietHours.to', where);
    if (from === to)
      throw new DefinitionError(where, 'quietHours.from and quietHours.to must differ');
    quietHours = { from, to, label: `${options.quietHours.from}–${options.quietHours.to}` };
  }
  const caps = (options.caps ?? []).map((cap, i) => {
    if (!Number.isInteger(cap?.max) || cap.max < 1) {
      throw new DefinitionError(
        where,
        `caps[${i}].max must be a whole number ≥ 1, got ${describeValue(cap?.max)}`,
      );
    }
    const perMs = within(where, () => parseDuration(cap.per, `caps[${i}].per`));
    if (perMs < MS.minute)
      throw new DefinitionError(where, `caps[${i}].per must be at least a minute`);
    return { max: cap.max, perMs, label: `${cap.max} per ${formatDuration(perMs)}` };
  });
  if (quietHours === null && caps.length === 0) {
    throw new DefinitionError(
      where,
      'give quietHours, caps, or both: a control without either controls nothing',
    );
  }
  if (options.key !== undefined) within(where, () => assertPath(options.key, 'key'));
  return {
    kind: 'journey-control',
    name: options.name,
    zone,
    quietHours,
    caps,
    keyPath: options.key ?? null,
  };
}

/** The person's time zone for a task scheduled by `event`; throws naming the field when it is not one. */
export function controlZone(control: JourneyControl, event: WorkflowEvent | null): string {
  return timeZoneFor(control.zone, event);
}

/**
 * Where quiet hours move a due time: to the end of the quiet hours it falls in (local time
 * in `zone`), or nowhere. The end is the first instant of that local time (daylight saving
 * as for recurring tasks: a repeated time at its first, a skipped one moved forward).
 */
export function afterQuietHours(control: JourneyControl, dueAt: number, zone: string): number {
  const quiet = control.quietHours;
  if (quiet === null) return dueAt;
  const wall = wallClock(dueAt, zone);
  const minute = Math.floor((wall % MS.day) / MS.minute);
  const wraps = quiet.from > quiet.to;
  const inside = wraps
    ? minute >= quiet.from || minute < quiet.to
    : minute >= quiet.from && minute < quiet.to;
  if (!inside) return dueAt;
  const midnight = wall - (wall % MS.day);
  const day = wraps && minute >= quiet.from ? midnight + MS.day : midnight;
  const end = day + quiet.to * MS.minute;
  // The end as an instant not before the due time: when clocks go back over it, the due
  // time may lie between its two occurrences.
  const later = instantsOf(end, zone).find((t) => t >= dueAt);
  return later ?? Math.max(dueAt, instantOf(end, zone));
}

/** A planned task's due time and deadline after quiet hours, and what they did to it. */
export interface QuietHoursPlan {
  readonly dueAt: number;
  readonly deadlineAt: number | null;
  /** Why the due time moved, for the task's timeline; null when it did not. */
  readonly moved: string | null;
  /** Why the task is dropped (its CANCELLED cause); null when it is not. */
  readonly dropped: string | null;
}

/**
 * Plans a task of a type under a journey control around its quiet hours in `zone`: a due
 * time inside them moves to their end; if that passes the deadline, the task is dropped or
 * its deadline moves as much, as the task type says.
 */
export function planAroundQuietHours(
  journey: TaskJourney,
  zone: string,
  dueAt: number,
  deadlineAt: number | null,
): QuietHoursPlan {
  const moved = afterQuietHours(journey.control, dueAt, zone);
  if (moved === dueAt) return { dueAt, deadlineAt, moved: null, dropped: null };
  const why = `quiet hours ${journey.control.quietHours!.label} ${zone} (journey control '${journey.control.name}')`;
  const iso = (ms: number) => new Date(ms).toISOString();
  if (deadlineAt !== null && moved > deadlineAt) {
    if (journey.pastDeadline === 'drop') {
      return {
        dueAt,
        deadlineAt,
        moved: null,
        dropped: `dropped: ${why} would move it from ${iso(dueAt)} to ${iso(moved)}, past its deadline ${iso(deadlineAt)}`,
      };
    }
    return {
      dueAt: moved,
      deadlineAt: deadlineAt + (moved - dueAt),
      moved: `moved from ${iso(dueAt)} to ${iso(moved)} by ${why}, its deadline as much`,
      dropped: null,
    };
  }
  return {
    dueAt: moved,
    deadlineAt,
    moved: `moved from ${iso(dueAt)} to ${iso(moved)} by ${why}`,
    dropped: null,
  };
}

/**
 * {@link planAroundQuietHours} for a task of a type with `journey` (or none), in the zone
 * read from the event that schedules it; unchanged when the type has no quiet hours.
 */
export function quietHoursFor(
  journey: TaskJourney | null,
  zone: string | WorkflowEvent,
  dueAt: number,
  deadlineAt: number | null,
): QuietHoursPlan {
  if (journey === null || journey.control.quietHours === null) {
    return { dueAt, deadlineAt, moved: null, dropped: null };
  }
  const where = typeof zone === 'string' ? zone : controlZone(journey.control, zone);
  return planAroundQuietHours(journey, where, dueAt, deadlineAt);
}

/**
 * Whether a task may start at `now` under a control's caps, given when the person's
 * earlier tasks started (epoch ms): allowed, or over a cap, with the first time every cap
 * has room again (each window a rolling one: at most `max` in any `per`).
 */
export function capDecision(
  control: JourneyControl,
  sends: readonly number[],
  now: number,
):
  | { readonly allowed: true }
  | { readonly allowed: false; readonly freeAt: number; readonly cap: string } {
  let at = now;
  let hit: string | null = null;
  for (let moved = true; moved; ) {
    moved = false;
    for (const cap of control.caps) {
      // A start later than `at` counts too: workers' clocks and arrivals interleave, so one
      // reading the caps a moment before another's start was written must still see it.
      const inWindow = sends.filter((t) => t > at - cap.perMs).sort((a, b) => a - b);
      if (inWindow.length < cap.max) continue;
      // Room again once enough of them have left the window.
      at = inWindow[inWindow.length - cap.max]! + cap.perMs;
      hit ??= cap.label;
      moved = true;
    }
  }
  return hit === null ? { allowed: true } : { allowed: false, freeAt: at, cap: hit };
}

/** The longest window of a control's caps: how long a start must be remembered. */
export function longestCapWindow(control: JourneyControl): number {
  return Math.max(0, ...control.caps.map((c) => c.perMs));
}

/** Whose caps a task counts against: the person at the control's `key` path in `event`, or the instance's key. */
export function journeyKeyOf(
  journey: TaskJourney | null,
  event: WorkflowEvent,
  instanceKey: string,
): string | null {
  if (journey === null || journey.control.caps.length === 0) return null;
  if (journey.control.keyPath === null) return instanceKey;
  const value = readPath(event, journey.control.keyPath);
  if (typeof value !== 'string' || value === '') {
    throw new HourglassError(
      `${journey.control.keyPath} is missing or not a string: journey control '${journey.control.name}' counts each person's tasks by it`,
    );
  }
  return value;
}

/** Why a task over a cap was dropped or deferred, for its timeline. */
export function capCause(
  journey: TaskJourney,
  decision: { readonly freeAt: number; readonly cap: string },
): string {
  const what = `frequency cap ${decision.cap} (journey control '${journey.control.name}')`;
  return journey.overCap === 'drop'
    ? `dropped: over ${what}`
    : `deferred to ${new Date(decision.freeAt).toISOString()} by ${what}`;
}

/** The person's zone a task keeps for its control's quiet hours (checked again at start), or null. */
export function journeyZoneOf(journey: TaskJourney | null, event: WorkflowEvent): string | null {
  if (journey === null || journey.control.quietHours === null) return null;
  return controlZone(journey.control, event);
}

/**
 * When a task about to start at `now` may start under its control: now, or the end of the
 * quiet hours `now` falls in (a task deferred by a cap, or kept back by an outage, must not
 * start at night either).
 */
export function quietUntil(control: JourneyControl, zone: string | undefined, now: number): number {
  return zone === undefined ? now : afterQuietHours(control, now, zone);
}

/** Why a task about to start was held until the end of its quiet hours, for its timeline. */
export function quietCause(control: JourneyControl, zone: string, until: number): string {
  return `deferred to ${new Date(until).toISOString()} by quiet hours ${control.quietHours?.label ?? ''} ${zone} (journey control '${control.name}')`;
}

/** Whether a controlled task's first attempt may start now, and if not, why and until when. */
export type StartGate =
  | { readonly start: true }
  | {
      readonly start: false;
      readonly drop: boolean;
      readonly until: number;
      readonly cause: string;
    };

/**
 * The journey control's word on a task's first attempt at `now`: held until the end of
 * quiet hours it falls in; then, with `starts` (when the person's earlier capped tasks
 * started; null without caps), over a cap it is dropped or deferred to the first free slot
 * out of the quiet hours, as its task type says. The simulator and the worker both ask it.
 */
export function startGate(
  journey: TaskJourney,
  zone: string | undefined,
  starts: readonly number[] | null,
  now: number,
): StartGate {
  const quietEnd = quietUntil(journey.control, zone, now);
  if (quietEnd > now) {
    return {
      start: false,
      drop: false,
      until: quietEnd,
      cause: quietCause(journey.control, zone!, quietEnd),
    };
  }
  if (starts === null) return { start: true };
  const taken = capDecision(journey.control, starts, now);
  return taken.allowed ? { start: true } : overCapGate(journey, zone, taken);
}

/**
 * What becomes of a task over a cap: dropped, or deferred to the first free slot moved out
 * of the quiet hours, as its task type says (the worker asks it after its cap store said so).
 */
export function overCapGate(
  journey: TaskJourney,
  zone: string | undefined,
  taken: { readonly freeAt: number; readonly cap: string },
): StartGate & { readonly start: false } {
  const decision = { ...taken, freeAt: quietUntil(journey.control, zone, taken.freeAt) };
  return {
    start: false,
    drop: journey.overCap === 'drop',
    until: decision.freeAt,
    cause: capCause(journey, decision),
  };
}
