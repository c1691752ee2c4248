import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import {
  DefinitionError,
  defineEvent,
  defineHourglass,
  defineJourneyControl,
  defineTaskType,
  defineWorkflow,
} from '../../shared/core';
import { scenario } from '../../shared/core/testing';

/**
 * Quiet hours, a journey control: "never between 21:00 and 08:00 in the user's time
 * zone". A due time inside them moves to their end; a deadline that the move would pass
 * drops the task or moves with it, as the task type says. Both show in the task's timeline.
 */

const Browsed = defineEvent({
  source: 'shop',
  detailType: 'Browsed',
  schema: z.object({ userId: z.string(), timeZone: z.optional(z.string()) }),
});
const marketing = defineJourneyControl({
  name: 'marketing',
  timeZone: { path: 'detail.timeZone', default: 'Europe/Paris' },
  quietHours: { from: '21:00', to: '08:00' },
});
/** Worthless 2 hours late: dropped when quiet hours would push it further. */
const flashSale = defineTaskType({
  name: 'flash-sale',
  deadline: '2h',
  journey: { control: marketing },
});
/** Still worth sending in the morning. */
const browseReminder = defineTaskType({
  name: 'browse-reminder',
  deadline: '2h',
  journey: { control: marketing, pastDeadline: 'run' },
});
const nudges = defineWorkflow({
  name: 'nudges',
  key: 'detail.userId',
  events: [Browsed],
  initial: 'idle',
  states: {
    idle: {
      on: {
        Browsed: {
          schedule: [
            { task: flashSale, after: '30m' },
            { task: browseReminder, after: '30m' },
          ],
        },
      },
    },
  },
});
const definitions = defineHourglass({
  taskTypes: [flashSale, browseReminder],
  workflows: [nudges],
});

describe('quiet hours', () => {
  it('leaves a task due outside them alone', async () => {
    // 14:00 in Paris (winter, UTC+1).
    const s = scenario(definitions, { start: '2026-01-12T13:00:00.000Z' }).emit(Browsed, {
      userId: 'u1',
    });
    const result = await s.run('1d');
    expect(result.task(browseReminder, 'u1')).toMatchObject({
      dueAt: s.time('30m'),
      startedAt: s.time('30m'),
    });
    expect(result.task(browseReminder, 'u1').timeline).toHaveLength(3);
  });

  it('moves a task due inside them to their end, and says so in its timeline', async () => {
    // 20:45 in Paris: due 21:15, inside the quiet hours; moved to 08:00 the next morning.
    const s = scenario(definitions, { start: '2026-01-12T19:45:00.000Z' }).emit(Browsed, {
      userId: 'u2',
    });
    const result = await s.run('1d');
    const task = result.task(browseReminder, 'u2');
    expect(task).toMatchObject({
      status: 'COMPLETED',
      dueAt: '2026-01-13T07:00:00.000Z',
      startedAt: '2026-01-13T07:00:00.000Z',
    });
    expect(task.timeline[1]?.cause).toBe(
      "moved from 2026-01-12T20:15:00.000Z to 2026-01-13T07:00:00.000Z by quiet hours 21:00–08:00 Europe/Paris (journey control 'marketing'), its deadline as much",
    );
  });

  it('drops a task the move would carry past its deadline, saying why', async () => {
    const s = scenario(definitions, { start: '2026-01-12T19:45:00.000Z' }).emit(Browsed, {
      userId: 'u3',
    });
    const result = await s.run('1d');
    const task = result.task(flashSale, 'u3');
    expect(task).toMatchObject({ status: 'CANCELLED', startedAt: null });
    expect(task.timeline.at(-1)?.cause).toBe(
      "dropped: quiet hours 21:00–08:00 Europe/Paris (journey control 'marketing') would move it from 2026-01-12T20:15:00.000Z to 2026-01-13T07:00:00.000Z, past its deadline 2026-01-12T22:15:00.000Z",
    );
    expect(result.runs.filter((r) => r.taskType === 'flash-sale')).toEqual([]);
  });

  it("counts in the user's own zone: 20:45 in New York ends at 08:00 New York time", async () => {
    const s = scenario(definitions, { start: '2026-01-13T01:45:00.000Z' }).emit(Browsed, {
      userId: 'u4',
      timeZone: 'America/New_York',
    });
    const result = await s.run('1d');
    expect(result.task(browseReminder, 'u4').startedAt).toBe('2026-01-13T13:00:00.000Z'); // 08:00 EST
  });

  it('ends at 08:00 local time on the morning clocks change (Paris, 29 March: 08:00 CEST)', async () => {
    const s = scenario(definitions, { start: '2026-03-28T21:00:00.000Z' }).emit(Browsed, {
      userId: 'u5',
    });
    const result = await s.run('1d');
    expect(result.task(browseReminder, 'u5').startedAt).toBe('2026-03-29T06:00:00.000Z');
  });

  it('ends at 08:00 local time after clocks go back in New York (1 November: 08:00 EST)', async () => {
    const s = scenario(definitions, { start: '2026-11-01T02:00:00.000Z' }).emit(Browsed, {
      userId: 'u6',
      timeZone: 'America/New_York',
    });
    const result = await s.run('1d');
    expect(result.task(browseReminder, 'u6').startedAt).toBe('2026-11-01T13:00:00.000Z');
  });

  it.each([
    [
      { name: 'bad', quietHours: { from: '9pm', to: '08:00' } },
      'quietHours.from must be a local time "HH:MM"',
    ],
    [{ name: 'bad' }, 'give quietHours, caps, or both'],
    [
      { name: 'bad', timeZone: 'Paris', quietHours: { from: '21:00', to: '08:00' } },
      'not an IANA time zone',
    ],
  ])('refuses %j, saying what to fix', (options, message) => {
    expect(() => defineJourneyControl(options as never)).toThrow(DefinitionError);
    expect(() => defineJourneyControl(options as never)).toThrow(message);
  });
});

describe('quiet hours when clocks go back over their end', () => {
  it('never move a task earlier than it was due', async () => {
    const lateNight = defineJourneyControl({
      name: 'late-night',
      timeZone: 'Europe/Paris',
      quietHours: { from: '23:00', to: '02:30' },
    });
    const ping = defineTaskType({ name: 'ping', journey: { control: lateNight } });
    const pings = defineWorkflow({
      name: 'pings',
      key: 'detail.userId',
      events: [Browsed],
      initial: 'idle',
      states: { idle: { on: { Browsed: { schedule: { task: ping } } } } },
    });
    // 25 October 2026, 01:15 UTC is 02:15 CET, after the first 02:30 (00:30 UTC, CEST) and
    // before the second (01:30 UTC, CET): the quiet hours end at the second.
    const result = await scenario(defineHourglass({ taskTypes: [ping], workflows: [pings] }), {
      start: '2026-10-25T01:15:00.000Z',
    })
      .emit(Browsed, { userId: 'u7' })
      .run('1d');
    expect(result.task(ping, 'u7').startedAt).toBe('2026-10-25T01:30:00.000Z');
  });
});

describe('quiet hours at start', () => {
  const billing = defineJourneyControl({
    name: 'billing',
    timeZone: 'Europe/Paris',
    quietHours: { from: '21:00', to: '08:00' },
    caps: [{ max: 1, per: '4h' }],
  });
  const mail = defineTaskType({ name: 'mail', journey: { control: billing } });
  const mails = defineWorkflow({
    name: 'mails',
    key: 'detail.userId',
    events: [Browsed],
    initial: 'idle',
    states: { idle: { on: { Browsed: { schedule: { task: mail, collapse: 'per-trigger' } } } } },
  });
  const definitions2 = defineHourglass({ taskTypes: [mail], workflows: [mails] });

  it('a task a cap defers into the quiet hours waits for their end', async () => {
    // 18:00 and 19:00 in Paris: the second is over the cap until 22:00, inside the quiet hours.
    const s = scenario(definitions2, { start: '2026-01-12T17:00:00.000Z' })
      .emit(Browsed, { userId: 'u8' })
      .emit(Browsed, { userId: 'u8' }, { at: '1h' });
    const result = await s.run('1d');
    expect(result.tasksOf(mail).map((t) => t.startedAt)).toEqual([
      '2026-01-12T17:00:00.000Z',
      '2026-01-13T07:00:00.000Z', // 08:00 in Paris
    ]);
  });

  it('a task whose workers come back at night waits for the morning', async () => {
    const s = scenario(definitions2, { start: '2026-01-12T17:00:00.000Z' })
      .emit(Browsed, { userId: 'u9' })
      .workersDown(mail, { from: '0s', to: '5h' }); // back at 23:00 in Paris
    const result = await s.run('1d');
    const task = result.task(mail, 'u9');
    expect(task.startedAt).toBe('2026-01-13T07:00:00.000Z');
    expect(
      task.timeline.some((e) =>
        e.cause.startsWith('deferred to 2026-01-13T07:00:00.000Z by quiet hours'),
      ),
    ).toBe(true);
  });
});
