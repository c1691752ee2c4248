import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  check,
  DefinitionError,
  defineEvent,
  defineHourglass,
  defineTaskType,
  defineWorkflow,
  diagram,
} from '../../shared/core';
import { scenario } from '../../shared/core/testing';

const SubscriptionStarted = defineEvent({
  source: 'billing',
  detailType: 'SubscriptionStarted',
  schema: z.object({ accountId: z.string() }),
});
const SubscriptionCancelled = defineEvent({
  source: 'billing',
  detailType: 'SubscriptionCancelled',
  schema: z.object({ accountId: z.string() }),
});
const welcome = defineTaskType({ name: 'send-welcome' });
const checkIn = defineTaskType({ name: 'check-in' });

/** Welcome at once and check in after 30 days, unless cancelled; cancelling ends it. */
const subscription = (startOverOn?: (typeof SubscriptionStarted)[]) =>
  defineWorkflow({
    name: 'subscription',
    key: 'detail.accountId',
    events: [SubscriptionStarted, SubscriptionCancelled],
    initial: 'new',
    context: { starts: 0 },
    ...(startOverOn === undefined ? {} : { startOverOn }),
    states: {
      new: {
        on: {
          SubscriptionStarted: {
            target: 'active',
            assign: ({ context }) => ({ starts: context.starts + 1 }),
            schedule: [{ task: welcome }, { task: checkIn, after: '30d' }],
          },
        },
      },
      active: {
        on: { SubscriptionCancelled: { target: 'cancelled', cancel: checkIn } },
      },
      cancelled: { final: true },
    },
  });
const hourglass = (startOverOn?: (typeof SubscriptionStarted)[]) =>
  defineHourglass({ taskTypes: [welcome, checkIn], workflows: [subscription(startOverOn)] });

/** Subscribes, cancels after 10 days, subscribes again after 90. */
const resubscribes = (definitions: ReturnType<typeof hourglass>) =>
  scenario(definitions, { start: '2026-01-05T09:00:00.000Z' })
    .emit(SubscriptionStarted, { accountId: 'a1' })
    .emit(SubscriptionCancelled, { accountId: 'a1' }, { at: '10d' })
    .emit(SubscriptionStarted, { accountId: 'a1' }, { at: '90d' });

describe('starting over after a final state', () => {
  it('starts a finished instance over on a startOverOn event, from the initial state and context', async () => {
    const s = resubscribes(hourglass([SubscriptionStarted]));
    const result = await s.run('200d');
    expect(result.tasksOf(welcome, 'a1').map((t) => t.startedAt)).toEqual([
      s.time('0s'),
      s.time('90d'),
    ]);
    expect(result.tasksOf(checkIn, 'a1').map((t) => [t.status, t.dueAt])).toEqual([
      ['CANCELLED', s.time('30d')],
      ['COMPLETED', s.time('120d')],
    ]);
    // Back to the initial context, then the trigger's assign: a fresh journey.
    expect(result.instance('subscription', 'a1')).toMatchObject({
      state: 'active',
      context: { starts: 1 },
    });
  });

  it('keeps a final state for good without it: the second subscription changes nothing', async () => {
    const result = await resubscribes(hourglass()).run('200d');
    expect(result.tasksOf(welcome, 'a1')).toHaveLength(1);
    expect(result.instance('subscription', 'a1').state).toBe('cancelled');
  });

  it('starts over in event-time order when the new subscription arrives before the cancel', async () => {
    const s = scenario(hourglass([SubscriptionStarted]), { start: '2026-01-05T09:00:00.000Z' })
      .emit(SubscriptionStarted, { accountId: 'a1' })
      .emit(SubscriptionStarted, { accountId: 'a1' }, { at: '3d', arrives: '3d' })
      .emit(SubscriptionCancelled, { accountId: 'a1' }, { at: '2d', arrives: '4d' });
    const result = await s.run('200d');
    expect(result.tasksOf(welcome, 'a1').map((t) => t.dueAt)).toEqual([s.time('0s'), s.time('3d')]);
    expect(result.tasksOf(checkIn, 'a1').map((t) => [t.status, t.dueAt])).toEqual([
      ['CANCELLED', s.time('30d')],
      ['COMPLETED', s.time('33d')],
    ]);
    expect(result.instance('subscription', 'a1').state).toBe('active');
  });

  it('is drawn as a transition from the final state back to the initial one', () => {
    expect(diagram(subscription([SubscriptionStarted]))).toContain(
      '  s_cancelled --> s_new : SubscriptionStarted (starts over)',
    );
  });

  it('is warned about by check when not said, and not when said, even as []', () => {
    const codes = (definitions: ReturnType<typeof hourglass>) =>
      check(definitions).map((f) => f.code);
    expect(codes(hourglass())).toContain('never-starts-over');
    expect(codes(hourglass([]))).not.toContain('never-starts-over');
    expect(codes(hourglass([SubscriptionStarted]))).not.toContain('never-starts-over');
  });

  it('refuses a startOverOn event with no transition from the initial state', () => {
    expect(() =>
      defineWorkflow({
        name: 'w',
        key: 'detail.accountId',
        events: [SubscriptionStarted, SubscriptionCancelled],
        initial: 'new',
        startOverOn: [SubscriptionCancelled],
        states: {
          new: { on: { SubscriptionStarted: { target: 'done' } } },
          done: { final: true },
        },
      }),
    ).toThrow(
      "workflow 'w': startOverOn[0] ('SubscriptionCancelled') must be an event with a transition from the initial state 'new', which it takes after starting over",
    );
  });

  it('refuses startOverOn in a workflow with no final state', () => {
    expect(() =>
      defineWorkflow({
        name: 'w',
        key: 'detail.accountId',
        events: [SubscriptionStarted],
        initial: 'new',
        startOverOn: [SubscriptionStarted],
        states: { new: { on: { SubscriptionStarted: {} } } },
      }),
    ).toThrow(DefinitionError);
  });
});
