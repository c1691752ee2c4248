import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import {
  DefinitionError,
  decide,
  defineEvent,
  defineHourglass,
  defineTaskType,
  defineWorkflow,
  diagram,
  type EverySpec,
  newInstance,
  type RecordedEvent,
  TIMER_TASK_TYPE,
} from '../../shared/core';
import { scenario } from '../../shared/core/testing';

/**
 * Recurring tasks per key: "every Monday at 09:00 in the user's time zone until they
 * unsubscribe", "every 6 hours while the subscription is active". Each occurrence is a
 * task of its own, due at a local wall-clock time; daylight saving follows an explicit
 * policy; an outage never piles occurrences up. Every assertion says when.
 */

const Subscribed = defineEvent({
  source: 'mail',
  detailType: 'Subscribed',
  schema: z.object({ userId: z.string(), timeZone: z.optional(z.string()) }),
});
const Unsubscribed = defineEvent({
  source: 'mail',
  detailType: 'Unsubscribed',
  schema: z.object({ userId: z.string() }),
});

/** A digest workflow whose recurring task follows `every`. */
function digestWith(every: string | EverySpec, name = 'send-digest') {
  const sendDigest = defineTaskType({ name });
  const workflow = defineWorkflow({
    name: 'digest',
    key: 'detail.userId',
    events: [Subscribed, Unsubscribed],
    initial: 'new',
    startOverOn: [Subscribed],
    states: {
      new: { on: { Subscribed: { target: 'subscribed', schedule: { task: sendDigest, every } } } },
      subscribed: { on: { Unsubscribed: { target: 'gone', cancel: sendDigest } } },
      gone: { final: true },
    },
  });
  return {
    sendDigest,
    workflow,
    definitions: defineHourglass({ taskTypes: [sendDigest], workflows: [workflow] }),
  };
}

const weekly: EverySpec = {
  cron: '0 9 * * MON',
  timeZone: { path: 'detail.timeZone', default: 'UTC' },
};

describe('a recurring task', () => {
  it("runs every Monday at 09:00 in the user's zone, across the change to summer time, until they unsubscribe", async () => {
    const { sendDigest, definitions } = digestWith(weekly);
    // Friday 20 March 2026; Paris moves to summer time on Sunday 29 March.
    const s = scenario(definitions, { start: '2026-03-20T12:00:00.000Z' })
      .emit(Subscribed, { userId: 'u1', timeZone: 'Europe/Paris' })
      .emit(Unsubscribed, { userId: 'u1' }, { at: '2026-04-08T12:00:00.000Z' });
    const result = await s.run('2026-05-01T00:00:00.000Z');
    const runs = result.tasksOf(sendDigest, 'u1').filter((t) => t.status === 'COMPLETED');
    // 09:00 CET is 08:00 UTC; 09:00 CEST is 07:00 UTC.
    expect(runs.map((t) => [t.dueAt, t.startedAt])).toEqual([
      ['2026-03-23T08:00:00.000Z', '2026-03-23T08:00:00.000Z'],
      ['2026-03-30T07:00:00.000Z', '2026-03-30T07:00:00.000Z'],
      ['2026-04-06T07:00:00.000Z', '2026-04-06T07:00:00.000Z'],
    ]);
    // The unsubscribe cancelled the next occurrence and stopped the chain.
    expect(result.tasksOf(sendDigest, 'u1').at(-1)).toMatchObject({
      status: 'CANCELLED',
      dueAt: '2026-04-13T07:00:00.000Z',
    });
    expect(result.tasksOf(TIMER_TASK_TYPE, 'u1').at(-1)?.status).toBe('CANCELLED');
    // Each occurrence has its own id.
    expect(new Set(result.tasksOf(sendDigest, 'u1').map((t) => t.taskId)).size).toBe(4);
  });

  it('counts in New York time for a New York user, and in the default zone for a user without one', async () => {
    const { sendDigest, definitions } = digestWith(weekly);
    // The US moves to summer time on Sunday 8 March 2026.
    const result = await scenario(definitions, { start: '2026-03-01T12:00:00.000Z' })
      .emit(Subscribed, { userId: 'ny', timeZone: 'America/New_York' })
      .emit(Subscribed, { userId: 'utc' })
      .run('2026-03-17T00:00:00.000Z');
    const started = (key: string) =>
      result.tasksOf(sendDigest, key).flatMap((t) => (t.startedAt === null ? [] : [t.startedAt]));
    expect(started('ny')).toEqual([
      '2026-03-02T14:00:00.000Z', // 09:00 EST
      '2026-03-09T13:00:00.000Z', // 09:00 EDT
      '2026-03-16T13:00:00.000Z',
    ]);
    expect(started('utc')).toEqual([
      '2026-03-02T09:00:00.000Z',
      '2026-03-09T09:00:00.000Z',
      '2026-03-16T09:00:00.000Z',
    ]);
  });

  it('rejects an event whose time zone is not one, saying which field', async () => {
    const { definitions } = digestWith(weekly);
    const result = await scenario(definitions)
      .emit(Subscribed, { userId: 'u2', timeZone: 'Mars/Olympus' })
      .run('1d');
    expect(result.tasks).toEqual([]);
    expect(result.rejected[0]?.reason).toContain(
      'detail.timeZone is "Mars/Olympus", which is not an IANA time zone',
    );
  });

  it('after a worker outage runs one occurrence, the latest, not every missed one', async () => {
    const { sendDigest, definitions } = digestWith({ cron: '0 9 * * *' });
    const s = scenario(definitions, { start: '2026-06-01T00:00:00.000Z' })
      .emit(Subscribed, { userId: 'u3' })
      .workersDown(sendDigest, {
        from: '2026-06-01T08:00:00.000Z',
        to: '2026-06-03T12:00:00.000Z',
      });
    const result = await s.run('2026-06-04T10:00:00.000Z');
    expect(result.tasksOf(sendDigest, 'u3').map((t) => [t.dueAt, t.status, t.startedAt])).toEqual([
      // Each occurrence may start until the next one is due; these two never could.
      ['2026-06-01T09:00:00.000Z', 'EXPIRED', null],
      ['2026-06-02T09:00:00.000Z', 'EXPIRED', null],
      // Due during the outage and still in its window when the workers came back.
      ['2026-06-03T09:00:00.000Z', 'COMPLETED', '2026-06-03T12:00:00.000Z'],
      ['2026-06-04T09:00:00.000Z', 'COMPLETED', '2026-06-04T09:00:00.000Z'],
      ['2026-06-05T09:00:00.000Z', 'SCHEDULED', null],
    ]);
  });

  it('every 6 hours counts elapsed time from the event, and a second start keeps the first chain', async () => {
    const { sendDigest, definitions } = digestWith('6h');
    const s = scenario(definitions)
      .emit(Subscribed, { userId: 'u4' })
      .emit(Subscribed, { userId: 'u4' }, { at: '7h' });
    const result = await s.run('19h');
    expect(result.tasksOf(sendDigest, 'u4').map((t) => [t.startedAt, t.status])).toEqual([
      [s.time('6h'), 'COMPLETED'],
      [s.time('12h'), 'COMPLETED'],
      [s.time('18h'), 'COMPLETED'],
      [null, 'SCHEDULED'], // due at 24h
    ]);
  });

  it('is drawn with its recurrence', () => {
    expect(diagram(digestWith(weekly).workflow)).toContain(
      "s_new --> s_subscribed : Subscribed / schedule send-digest every '0 9 * * MON' detail.timeZone or UTC",
    );
  });

  it.each([
    [{ cron: 'every monday' }, "'every monday' is not a cron expression"],
    [
      { cron: '0 9 * * MON', timeZone: 'Paris' },
      'every.timeZone is "Paris", which is not an IANA time zone',
    ],
    ['30s', 'shorter than a minute'],
    [{ cron: '0 9 * * MON', dst: { repeated: 'twice' } }, 'every.dst must be'],
  ])('refuses every %j, saying why', (every, message) => {
    expect(() => digestWith(every as EverySpec)).toThrow(DefinitionError);
    expect(() => digestWith(every as EverySpec)).toThrow(message);
  });
});

describe('daylight saving, by policy', () => {
  /** The due times of a daily 02:30 Paris task around `start`, under `dst`. */
  async function dailyAt0230(start: string, dst: EverySpec['dst'], until: string) {
    const { sendDigest, definitions } = digestWith({
      cron: '30 2 * * *',
      timeZone: 'Europe/Paris',
      dst,
    });
    const result = await scenario(definitions, { start })
      .emit(Subscribed, { userId: 'u' })
      .run(until);
    return result
      .tasksOf(sendDigest)
      .filter((t) => t.status === 'COMPLETED')
      .map((t) => t.startedAt);
  }

  it('moves a time that never occurs forward by the gap by default, or skips it', async () => {
    // 29 March 2026: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
    const window = ['2026-03-28T12:00:00.000Z', '2026-03-30T12:00:00.000Z'] as const;
    expect(await dailyAt0230(window[0], undefined, window[1])).toEqual([
      '2026-03-29T01:30:00.000Z', // 03:30 CEST
      '2026-03-30T00:30:00.000Z', // 02:30 CEST
    ]);
    expect(await dailyAt0230(window[0], { skipped: 'skip' }, window[1])).toEqual([
      '2026-03-30T00:30:00.000Z',
    ]);
  });

  it('runs a time that occurs twice at the first by default, or the last, or both', async () => {
    // 25 October 2026: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    const window = ['2026-10-24T12:00:00.000Z', '2026-10-26T12:00:00.000Z'] as const;
    expect(await dailyAt0230(window[0], undefined, window[1])).toEqual([
      '2026-10-25T00:30:00.000Z', // 02:30 CEST
      '2026-10-26T01:30:00.000Z',
    ]);
    expect(await dailyAt0230(window[0], { repeated: 'last' }, window[1])).toEqual([
      '2026-10-25T01:30:00.000Z', // 02:30 CET
      '2026-10-26T01:30:00.000Z',
    ]);
    expect(await dailyAt0230(window[0], { repeated: 'both' }, window[1])).toEqual([
      '2026-10-25T00:30:00.000Z',
      '2026-10-25T01:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  it('in New York too: the spring gap at 02:30 is shifted to 03:30 EDT', async () => {
    const { sendDigest, definitions } = digestWith({
      cron: '30 2 * * *',
      timeZone: 'America/New_York',
    });
    const result = await scenario(definitions, { start: '2026-03-07T12:00:00.000Z' })
      .emit(Subscribed, { userId: 'u' })
      .run('2026-03-09T12:00:00.000Z');
    expect(
      result
        .tasksOf(sendDigest)
        .filter((t) => t.status === 'COMPLETED')
        .map((t) => t.startedAt),
    ).toEqual([
      '2026-03-08T07:30:00.000Z', // 03:30 EDT
      '2026-03-09T06:30:00.000Z', // 02:30 EDT
    ]);
  });
});

describe('a recurrence that Hourglass itself fell behind on', () => {
  it('plans the next occurrence after it caught up, not one row per missed period', async () => {
    const { workflow } = digestWith('1h');
    const now = Date.parse('2026-06-04T10:20:00.000Z');
    const started: RecordedEvent = {
      id: 'late',
      source: Subscribed.source,
      detailType: Subscribed.detailType,
      time: now - 3 * 86_400_000, // a start timed three days ago, decided only now
      detail: { userId: 'u9' },
    };
    const decision = decide(workflow, newInstance(workflow, 'u9'), [started], [], now);
    const planned = decision.commands.flatMap((c) =>
      c.type === 'schedule-task' ? [[c.task.taskType, new Date(c.task.dueAt).toISOString()]] : [],
    );
    // The first occurrence (long past: it expires at the next one's time), its timer (fired
    // now), and the next occurrence on the hour's phase after now, with its timer.
    expect(planned).toEqual([
      ['send-digest', '2026-06-01T11:20:00.000Z'],
      ['@timer', '2026-06-01T11:20:00.000Z'],
      ['send-digest', '2026-06-04T11:20:00.000Z'],
      ['@timer', '2026-06-04T11:20:00.000Z'],
    ]);
  });

  it('refuses a cron expression that recurs more often than once a minute', () => {
    expect(() => digestWith({ cron: '*/10 * * * * *' })).toThrow('more often than once a minute');
  });
});
