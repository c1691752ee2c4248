import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import {
  check,
  DefinitionError,
  defineEvent,
  defineHourglass,
  defineTaskType,
  defineWorkflow,
  diagram,
  TIMER_TASK_TYPE,
} from '../../shared/core';
import { scenario } from '../../shared/core/testing';

/**
 * Timers that need no worker: "if no OrderPlaced arrives within 2 hours of CheckoutStarted,
 * go to abandoned (and send one recovery mail)". The timer is a row the runtime fires at
 * its due time; here on the simulator's virtual clock, with event-time semantics: an event
 * before the due time wins, even when it arrives out of order; one that arrives after the
 * timer fired is late, and applies after the timer's move.
 */

const CheckoutStarted = defineEvent({
  source: 'shop',
  detailType: 'CheckoutStarted',
  schema: z.object({ userId: z.string(), cartId: z.string() }),
});
const OrderPlaced = defineEvent({
  source: 'shop',
  detailType: 'OrderPlaced',
  schema: z.object({ userId: z.string(), orderId: z.string() }),
});
const sendRecoveryMail = defineTaskType({ name: 'send-recovery-mail' });

const checkout = defineWorkflow({
  name: 'checkout-recovery',
  key: 'detail.userId',
  events: [CheckoutStarted, OrderPlaced],
  initial: 'browsing',
  startOverOn: [CheckoutStarted],
  states: {
    browsing: { on: { CheckoutStarted: { target: 'checkingOut' } } },
    checkingOut: {
      on: { OrderPlaced: { target: 'ordered' } },
      after: { '2h': { target: 'abandoned', schedule: { task: sendRecoveryMail } } },
    },
    abandoned: {
      on: { OrderPlaced: { target: 'ordered', cancel: sendRecoveryMail } },
      // Nobody came back within a week: give up, quietly.
      after: { '7d': { target: 'lost' } },
    },
    ordered: { final: true },
    lost: { final: true },
  },
});
const definitions = defineHourglass({ taskTypes: [sendRecoveryMail], workflows: [checkout] });

describe('a timer that needs no worker', () => {
  it('moves the instance at its due time and schedules from there; no worker runs for it', async () => {
    const s = scenario(definitions).emit(CheckoutStarted, { userId: 'u1', cartId: 'c1' });
    const result = await s.run('3h');
    expect(result.instance(checkout, 'u1').state).toBe('abandoned');
    const [timer, next] = result.tasksOf(TIMER_TASK_TYPE, 'u1');
    // Fired exactly when due, and the recovery mail ran then.
    expect(timer).toMatchObject({ status: 'COMPLETED', dueAt: s.time('2h'), attempts: 0 });
    expect(timer?.finishedAt).toBe(s.time('2h'));
    expect(result.task(sendRecoveryMail, 'u1')).toMatchObject({
      status: 'COMPLETED',
      dueAt: s.time('2h'),
      startedAt: s.time('2h'),
    });
    // Entering `abandoned` armed its own timer, 7 days from the move.
    expect(next).toMatchObject({ status: 'SCHEDULED', dueAt: s.time('7d2h') });
    expect(result.runs.map((r) => r.taskType)).toEqual(['send-recovery-mail']);
  });

  it('chains: a timer armed by a timer fires in its turn', async () => {
    const s = scenario(definitions).emit(CheckoutStarted, { userId: 'u2', cartId: 'c1' });
    const result = await s.run('8d');
    expect(result.instance(checkout, 'u2').state).toBe('lost');
    expect(result.tasksOf(TIMER_TASK_TYPE, 'u2').map((t) => [t.status, t.finishedAt])).toEqual([
      ['COMPLETED', s.time('2h')],
      ['COMPLETED', s.time('7d2h')],
    ]);
  });

  it('is cancelled by an event before its due time, and nothing is scheduled', async () => {
    const s = scenario(definitions)
      .emit(CheckoutStarted, { userId: 'u3', cartId: 'c1' })
      .emit(OrderPlaced, { userId: 'u3', orderId: 'o1' }, { at: '1h' });
    const result = await s.run('1d');
    expect(result.instance(checkout, 'u3').state).toBe('ordered');
    const timer = result.task(TIMER_TASK_TYPE, 'u3');
    expect(timer).toMatchObject({ status: 'CANCELLED', finishedAt: s.time('1h') });
    expect(timer.timeline.at(-1)?.cause).toBe('e2');
    expect(result.tasksOf(sendRecoveryMail)).toEqual([]);
  });

  it('an event at the exact due time still wins (the tie rule of tasks)', async () => {
    const result = await scenario(definitions)
      .emit(CheckoutStarted, { userId: 'u4', cartId: 'c1' })
      .emit(OrderPlaced, { userId: 'u4', orderId: 'o1' }, { at: '2h' })
      .run('1d');
    expect(result.instance(checkout, 'u4').state).toBe('ordered');
    expect(result.task(TIMER_TASK_TYPE, 'u4').status).toBe('CANCELLED');
  });

  it('out of order: an earlier order that arrives before the due time still cancels it', async () => {
    const result = await scenario(definitions)
      .emit(CheckoutStarted, { userId: 'u5', cartId: 'c1' }, { at: '0s', arrives: '90m' })
      .emit(OrderPlaced, { userId: 'u5', orderId: 'o1' }, { at: '1h', arrives: '10m' })
      .run('1d');
    expect(result.instance(checkout, 'u5').state).toBe('ordered');
    expect(result.tasksOf(sendRecoveryMail)).toEqual([]);
  });

  it('late: an order from before the due time that arrives after the timer fired applies after its move', async () => {
    const s = scenario(definitions)
      .emit(CheckoutStarted, { userId: 'u6', cartId: 'c1' })
      .emit(OrderPlaced, { userId: 'u6', orderId: 'o1' }, { at: '1h', arrives: '3h' });
    const result = await s.run('1d');
    // The timer had fired and its mail had run: both stand, as a claimed task's run does;
    // the order then moves the instance on from `abandoned`.
    expect(result.instance(checkout, 'u6').state).toBe('ordered');
    const [fired, armedInAbandoned] = result.tasksOf(TIMER_TASK_TYPE, 'u6');
    expect(fired).toMatchObject({ status: 'COMPLETED', finishedAt: s.time('2h') });
    expect(armedInAbandoned).toMatchObject({ status: 'CANCELLED', finishedAt: s.time('3h') });
    // The order's cancel came too late for the mail, which had run at the due time.
    expect(result.task(sendRecoveryMail, 'u6')).toMatchObject({
      status: 'COMPLETED',
      startedAt: s.time('2h'),
      lateCancel: true,
    });
  });

  it('a duplicate of the event that armed it arms nothing more', async () => {
    const result = await scenario(definitions)
      .emit(CheckoutStarted, { userId: 'u7', cartId: 'c1' }, { id: 'same' })
      .emit(CheckoutStarted, { userId: 'u7', cartId: 'c1' }, { id: 'same', arrives: '30m' })
      .run('3h');
    expect(result.tasksOf(TIMER_TASK_TYPE, 'u7').map((t) => t.status)).toEqual([
      'COMPLETED',
      'SCHEDULED',
    ]);
    expect(result.tasksOf(sendRecoveryMail, 'u7')).toHaveLength(1);
  });

  it('naming its own state as the target restarts it: a reminder every day until an order', async () => {
    const remind = defineTaskType({ name: 'remind' });
    const daily = defineWorkflow({
      name: 'daily-nudge',
      key: 'detail.userId',
      events: [CheckoutStarted, OrderPlaced],
      initial: 'idle',
      startOverOn: [],
      states: {
        idle: { on: { CheckoutStarted: { target: 'open' } } },
        open: {
          on: { OrderPlaced: { target: 'closed' } },
          after: { '1d': { target: 'open', schedule: { task: remind, collapse: 'per-trigger' } } },
        },
        closed: { final: true },
      },
    });
    const s = scenario(defineHourglass({ taskTypes: [remind], workflows: [daily] }))
      .emit(CheckoutStarted, { userId: 'u8', cartId: 'c1' })
      .emit(OrderPlaced, { userId: 'u8', orderId: 'o1' }, { at: '3d12h' });
    const result = await s.run('10d');
    expect(result.tasksOf(remind).map((t) => t.startedAt)).toEqual([
      s.time('1d'),
      s.time('2d'),
      s.time('3d'),
    ]);
    expect(result.instance(daily, 'u8').state).toBe('closed');
  });

  it('is drawn in the diagram as a transition labelled with its delay', () => {
    const mermaid = diagram(checkout);
    expect(mermaid).toContain(
      's_checkingOut --> s_abandoned : after 2h / schedule send-recovery-mail now',
    );
    expect(mermaid).toContain('s_abandoned --> s_lost : after 7d');
  });

  it.each([
    [
      'in the initial state',
      { browsing: { after: { '1h': { target: 'done' } } }, done: { final: true } },
      'the initial state cannot have timers',
    ],
    [
      'with a delay that is not a duration',
      {
        browsing: { on: { CheckoutStarted: { target: 'open' } } },
        open: { after: { soon: { target: 'done' } } },
        done: { final: true },
      },
      "after 'soon'",
    ],
    [
      'with a fraction',
      {
        browsing: { on: { CheckoutStarted: { target: 'open' } } },
        open: { after: { '1.5h': { target: 'done' } } },
        done: { final: true },
      },
      "'90m', not '1.5h'",
    ],
    [
      'to an unknown state',
      {
        browsing: { on: { CheckoutStarted: { target: 'open' } } },
        open: { after: { '1h': { target: 'nowhere' } } },
      },
      "target state 'nowhere' is not defined",
    ],
  ])('is refused %s, with the fix', (_, states, message) => {
    expect(() =>
      defineWorkflow({
        name: 'bad-timer',
        key: 'detail.userId',
        events: [CheckoutStarted],
        initial: 'browsing',
        states: states as never,
      }),
    ).toThrow(DefinitionError);
    expect(() =>
      defineWorkflow({
        name: 'bad-timer',
        key: 'detail.userId',
        events: [CheckoutStarted],
        initial: 'browsing',
        states: states as never,
      }),
    ).toThrow(message);
  });
});

describe('a timer whose move fails', () => {
  it('leaves the instance where it was, says why once, and does not block later events', async () => {
    // The tenant is read from the event that schedules the task: a timer's event has none.
    const billed = defineTaskType({ name: 'billed-mail', tenant: 'detail.accountId' });
    const flawed = defineWorkflow({
      name: 'flawed-timer',
      key: 'detail.userId',
      events: [CheckoutStarted, OrderPlaced],
      initial: 'browsing',
      startOverOn: [],
      states: {
        browsing: { on: { CheckoutStarted: { target: 'checkingOut' } } },
        checkingOut: {
          on: { OrderPlaced: { target: 'ordered' } },
          after: { '2h': { target: 'abandoned', schedule: { task: billed } } },
        },
        abandoned: {},
        ordered: { final: true },
      },
    });
    // hourglass check says so before deploy.
    expect(check(defineHourglass({ taskTypes: [billed], workflows: [flawed] }))).toContainEqual({
      severity: 'error',
      code: 'path-not-in-move',
      message:
        "workflow 'flawed-timer' state 'checkingOut' on 'after 2h': task type 'billed-mail' reads its tenant (detail.accountId) from the event that schedules it, and a timer's move carries no such field, so the move would fail; schedule it from an event that carries it (e.g. with after: on that event)",
    });
    const s = scenario(defineHourglass({ taskTypes: [billed], workflows: [flawed] }))
      .emit(CheckoutStarted, { userId: 'u1', cartId: 'c1' })
      .emit(OrderPlaced, { userId: 'u1', orderId: 'o1' }, { at: '3h' });
    const result = await s.run('1d');
    expect(result.rejected).toEqual([
      {
        eventId: 'flawed-timer#u1#@timer#checkingOut~2h~1',
        reason: expect.stringContaining(
          "timer 'after 2h' of state 'checkingOut' fired, but its transition failed, so the instance stayed in 'checkingOut': detail.accountId is missing",
        ),
      },
    ]);
    expect(result.task(TIMER_TASK_TYPE, 'u1')).toMatchObject({
      status: 'COMPLETED',
      finishedAt: s.time('2h'),
    });
    // The order an hour later still moves it on.
    expect(result.instance(flawed, 'u1').state).toBe('ordered');
  });
});
