import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type Command,
  decide,
  defineEvent,
  defineHourglass,
  defineTaskType,
  defineWorkflow,
  HistoryReplayError,
  type Instance,
  MAX_HISTORY_BYTES,
  MAX_HORIZON_HOLD_MS,
  minimumRetentionMs,
  newInstance,
  type RecordedEvent,
  type TaskFact,
  type Workflow,
} from '../../shared/core';
import {
  abandonedCheckout,
  discountReminder,
  productPublish,
  sendDiscountCode,
  welcomeDiscount,
} from '../../workflows';
import { activity, click } from '../fixtures/busy-key';
import { days, hours, minutes, T0 } from '../support/events';

let ids = 0;
const event = (
  detailType: string,
  detail: Record<string, unknown>,
  offset: number,
  id = `e${++ids}`,
): RecordedEvent => ({
  id,
  source: 'shop',
  detailType,
  time: T0 + offset,
  detail,
});
const registered = (offset = 0, id?: string) =>
  event('UserRegistered', { userId: 'u1', email: 'u@x.io' }, offset, id);
const ordered = (offset: number, id?: string) =>
  event('OrderPlaced', { userId: 'u1', orderId: 'o', total: 1 }, offset, id);

/** Facts as the store would hold them after applying commands (no worker activity). */
function factsAfter(commands: readonly Command[], facts: TaskFact[] = []): TaskFact[] {
  const byId = new Map(facts.map((f) => [f.taskId, { ...f }]));
  for (const c of commands) {
    if (c.type === 'schedule-task' && !byId.has(c.task.taskId)) {
      byId.set(c.task.taskId, {
        taskId: c.task.taskId,
        taskType: c.task.taskType,
        status: c.task.cancelledBy === null ? 'SCHEDULED' : 'CANCELLED',
        attempts: 0,
        dueAt: c.task.dueAt,
        deadlineAt: c.task.deadlineAt,
        input: c.task.input,
        startedAt: null,
        finishedAt: c.task.cancelledBy === null ? null : T0,
        lateCancels: [],
      });
    }
    if (c.type === 'cancel-task')
      byId.set(c.taskId, { ...byId.get(c.taskId)!, status: 'CANCELLED', finishedAt: T0 });
    if (c.type === 'update-task')
      byId.set(c.taskId, {
        ...byId.get(c.taskId)!,
        dueAt: c.dueAt,
        deadlineAt: c.deadlineAt,
        input: c.input,
      });
  }
  return [...byId.values()];
}

/** The task rows as a worker left them: every row with `fields` changed. */
function worked(facts: readonly TaskFact[], fields: Partial<TaskFact>): TaskFact[] {
  return facts.map((f) => ({ ...f, ...fields }));
}

/** A decision, with the workflow it was made for and the task rows its commands left. */
type Step = ReturnType<typeof decide> & { workflow: Workflow; facts: TaskFact[] };

/**
 * The first decision of an instance (J1's for u1 unless another workflow and key are given)
 * on `events` at `now`, with the task rows its commands wrote.
 */
function start(
  events: RecordedEvent[],
  now: number,
  workflow: Workflow = welcomeDiscount,
  key = 'u1',
): Step {
  const decision = decide(workflow, newInstance(workflow, key), events, [], now);
  return { ...decision, workflow, facts: factsAfter(decision.commands) };
}

/** The next decision for the same instance, on the task rows the previous one left (or on `facts`). */
function next(previous: Step, events: RecordedEvent[], now: number, facts = previous.facts): Step {
  const decision = decide(previous.workflow, previous.instance, events, facts, now);
  return { ...decision, workflow: previous.workflow, facts: factsAfter(decision.commands, facts) };
}

describe('decide', () => {
  const fresh = (): Instance => newInstance(welcomeDiscount, 'u1');

  it('schedules send-discount-code 30 minutes after registration, deadline 2 hours after that', () => {
    const decision = start([registered(0, 'r1')], T0);

    expect(decision.instance.state).toBe('waiting');
    expect(decision.accepted).toEqual(['r1']);
    expect(decision.commands).toEqual([
      {
        type: 'schedule-task',
        task: {
          taskId: 'welcome-discount#u1#send-discount-code#1',
          workflow: 'welcome-discount',
          key: 'u1',
          taskType: 'send-discount-code',
          dueAt: T0 + minutes(30),
          deadlineAt: T0 + minutes(30) + hours(2),
          input: { userId: 'u1', email: 'u@x.io' },
          createdBy: 'r1',
          cancelledBy: null,
        },
      },
    ]);
  });

  it('writes nothing new when the same decision is made again', () => {
    const first = start([registered(0, 'r1')], T0);
    const again = next(first, [registered(0, 'r1')], T0 + 1);

    expect(again.commands).toEqual([]);
    expect(again.duplicates).toEqual(['r1']);
    expect(again.accepted).toEqual([]);
  });

  it('cancels the pending task when the cancelling event is at or before its due time', () => {
    const first = start([registered()], T0);
    const tie = ordered(minutes(30), 'o1');
    const second = next(first, [tie], T0 + minutes(30));

    expect(second.instance.state).toBe('converted');
    expect(second.commands).toEqual([
      {
        type: 'cancel-task',
        taskId: 'welcome-discount#u1#send-discount-code#1',
        cancelledBy: 'o1',
        reason: 'cancelled',
        planned: {
          dueAt: T0 + minutes(30),
          deadlineAt: T0 + minutes(150),
          input: { userId: 'u1', email: 'u@x.io' },
        },
      },
    ]);
  });

  it('revives a cancelled task under a new id when an earlier event arrives late and undoes the cancel', () => {
    const checkout = (cart: string, offset: number, id: string) =>
      event('CheckoutStarted', { userId: 'u1', cartId: cart }, offset, id);
    const first = start([checkout('c2', 0, 'c2')], T0, abandonedCheckout);
    const payment = event('PaymentSucceeded', { userId: 'u1', cartId: 'c2' }, 1_000, 'paid');
    const second = next(first, [payment], T0 + 2_000);
    expect(second.facts.map((f) => f.status)).toEqual(['CANCELLED']);

    // c0's checkout happened before the payment, so one cart is still open.
    const third = next(second, [checkout('c0', 0, 'c0')], T0 + 3_000);
    expect(third.instance.context).toEqual({ openCarts: ['c0'] });
    expect(third.commands).toEqual([
      expect.objectContaining({
        type: 'schedule-task',
        task: expect.objectContaining({
          taskId: 'abandoned-checkout#u1#send-cart-reminder#1#r2',
          input: { cartIds: ['c0'] },
          dueAt: T0 + minutes(20),
        }),
      }),
    ]);
    const settled = next(third, [], T0 + 4_000);
    expect(settled.commands).toEqual([]);
  });

  it('records a late cancel, and changes nothing about the task, when a worker already claimed it', () => {
    const first = start([registered()], T0);
    const claimed = worked(first.facts, {
      status: 'RUNNING',
      attempts: 1,
      startedAt: T0 + minutes(30),
    });
    const second = next(first, [ordered(minutes(10), 'o1')], T0 + minutes(31), claimed);

    expect(second.instance.state).toBe('converted');
    expect(second.commands).toEqual([
      {
        type: 'record-late-cancel',
        taskId: 'welcome-discount#u1#send-discount-code#1',
        cancelledBy: 'o1',
      },
    ]);
  });

  it('cancels a task that is past due but not yet claimed (its workers are slow or down)', () => {
    const first = start([registered()], T0);
    const second = next(first, [ordered(minutes(45), 'o1')], T0 + minutes(45));

    expect(second.commands).toEqual([
      expect.objectContaining({
        type: 'cancel-task',
        taskId: 'welcome-discount#u1#send-discount-code#1',
        cancelledBy: 'o1',
      }),
    ]);
  });

  it('applies a task outcome at its real time, after a late cancel moved the instance on', () => {
    const first = start([registered()], T0);
    const running = worked(first.facts, {
      status: 'RUNNING',
      attempts: 1,
      startedAt: T0 + minutes(30),
    });
    const second = next(first, [ordered(minutes(31))], T0 + minutes(31), running);
    const completed = worked(running, {
      status: 'COMPLETED',
      finishedAt: T0 + minutes(32),
      lateCancels: ['x'],
    });
    const third = next(second, [], T0 + minutes(32), completed);

    expect(third.instance.state).toBe('converted');
    expect(third.commands.filter((c) => c.type === 'schedule-task')).toEqual([]);
  });

  it('chains on a task outcome: the reminder is due 3 days after the code was sent', () => {
    const first = start([registered()], T0);
    const done = worked(first.facts, {
      status: 'COMPLETED',
      attempts: 1,
      startedAt: T0 + minutes(30),
      finishedAt: T0 + minutes(31),
    });
    const second = next(first, [], T0 + minutes(31), done);

    expect(second.instance.state).toBe('nudged');
    expect(second.commands).toEqual([
      expect.objectContaining({
        type: 'schedule-task',
        task: expect.objectContaining({
          taskId: 'welcome-discount#u1#discount-reminder#1',
          dueAt: T0 + minutes(31) + days(3),
          createdBy: 'welcome-discount#u1#send-discount-code#1.completed',
        }),
      }),
    ]);
  });

  it('writes a task cancelled from birth when its cancel arrived first', () => {
    const first = start([ordered(minutes(5), 'o1')], T0 + minutes(5));
    expect(first.commands).toEqual([]);
    const second = next(first, [registered(0, 'r1')], T0 + minutes(6));

    expect(second.instance.state).toBe('converted');
    expect(second.commands).toEqual([
      expect.objectContaining({
        type: 'schedule-task',
        task: expect.objectContaining({ cancelledBy: 'o1' }),
      }),
    ]);
  });

  it('moves a pending task earlier when an earlier trigger arrives late', () => {
    const later = start([registered(minutes(10), 'r2')], T0 + minutes(10));
    const earlier = next(later, [registered(0, 'r1')], T0 + minutes(11));

    expect(earlier.commands).toEqual([
      {
        type: 'update-task',
        taskId: 'welcome-discount#u1#send-discount-code#1',
        dueAt: T0 + minutes(30),
        deadlineAt: T0 + minutes(30) + hours(2),
        input: { userId: 'u1', email: 'u@x.io' },
      },
    ]);
  });

  it('debounces checkouts: 20 minutes after the latest, never past 60 minutes after the first', () => {
    const checkout = (cart: string, offset: number) =>
      event('CheckoutStarted', { userId: 'u1', cartId: cart }, offset);
    let step = start([checkout('c0', 0)], T0, abandonedCheckout);
    for (const [i, offset] of [15, 30, 45].entries()) {
      step = next(step, [checkout(`c${i + 1}`, minutes(offset))], T0 + minutes(offset));
    }
    expect(step.facts).toEqual([
      expect.objectContaining({
        dueAt: T0 + minutes(60),
        input: { cartIds: ['c0', 'c1', 'c2', 'c3'] },
      }),
    ]);
  });

  it('keeps the reminder due when it was, with only the unpaid carts, when one of two carts is paid', () => {
    const checkout = (cart: string, offset: number) =>
      event('CheckoutStarted', { userId: 'u1', cartId: cart }, offset);
    const first = start(
      [checkout('c1', 0), checkout('c2', minutes(1))],
      T0 + minutes(1),
      abandonedCheckout,
    );
    const payment = event('PaymentSucceeded', { userId: 'u1', cartId: 'c1' }, minutes(2));
    const second = next(first, [payment], T0 + minutes(2));

    expect(second.instance.context).toEqual({ openCarts: ['c2'] });
    expect(second.commands).toEqual([
      expect.objectContaining({
        type: 'update-task',
        dueAt: T0 + minutes(21),
        input: { cartIds: ['c2'] },
      }),
    ]);
  });

  it('replaces a pending task with the newer time under the replace policy', () => {
    const publish = (publishAt: number, offset: number) =>
      event(
        'ProductPublishScheduled',
        { productId: 'p1', publishAt: new Date(T0 + publishAt).toISOString() },
        offset,
      );
    const first = start([publish(days(2), 0)], T0, productPublish, 'p1');
    const second = next(first, [publish(days(3), 1)], T0 + 1);

    expect(second.commands).toEqual([
      expect.objectContaining({
        type: 'update-task',
        taskId: 'product-publish#p1#publish-product#1',
        dueAt: T0 + days(3),
      }),
    ]);
  });

  it('rejects an event whose workflow function throws, and applies the others', () => {
    const Tick = defineEvent({
      source: 'test',
      detailType: 'Tick',
      schema: z.object({ n: z.number() }),
    });
    const job = defineTaskType({ name: 'job' });
    const fragile = defineWorkflow({
      name: 'fragile',
      key: 'detail.n',
      events: [Tick],
      initial: 'a',
      states: {
        a: {
          on: {
            Tick: {
              schedule: {
                task: job,
                collapse: 'per-trigger',
                input: ({ event }) => {
                  if (event.detail.n < 0) throw new Error('n must not be negative');
                  return { n: event.detail.n };
                },
              },
            },
          },
        },
      },
    });
    const tick = (n: number, id: string): RecordedEvent => ({
      id,
      source: 'test',
      detailType: 'Tick',
      time: T0,
      detail: { n },
    });
    const decision = start([tick(1, 'good'), tick(-1, 'bad')], T0, fragile, 'k');

    expect(decision.accepted).toEqual(['good']);
    expect(decision.commands).toEqual([
      {
        type: 'reject-event',
        eventId: 'bad',
        reason: "applying 'Tick' to workflow 'fragile' key 'k' failed: n must not be negative",
      },
      expect.objectContaining({
        type: 'schedule-task',
        task: expect.objectContaining({ taskId: 'fragile#k#job#good' }),
      }),
    ]);
  });

  it('folds events older than the retention into a snapshot, and rejects events older than it as too late', () => {
    const first = start([registered(0, 'r1'), ordered(minutes(1), 'o1')], T0 + minutes(1));
    expect(first.instance.snapshot).toBeNull();
    const later = next(first, [ordered(days(8), 'o2')], T0 + days(8));

    expect(later.instance.snapshot).toMatchObject({ horizon: T0 + days(1), state: 'converted' });
    expect(later.instance.events.map((e) => e.id)).toEqual(['o2']);
    expect(later.instance.state).toBe('converted');

    const tooLate = next(later, [registered(minutes(2), 'r-old')], T0 + days(8));
    expect(tooLate.commands).toEqual([
      {
        type: 'reject-event',
        eventId: 'r-old',
        reason: expect.stringMatching(
          /^too late: the event time .* is before the history horizon .* \(it keeps events for 7d\)/,
        ),
      },
    ]);
  });

  it('rejects two copies of a too-late event once: the second is a duplicate', () => {
    const first = start([registered(0, 'r1')], T0);
    const later = next(first, [ordered(days(8), 'o2')], T0 + days(8));
    const twice = next(
      later,
      [registered(minutes(2), 'r-old'), registered(minutes(2), 'r-old')],
      T0 + days(8),
    );
    expect(twice.commands.filter((c) => c.type === 'reject-event')).toHaveLength(1);
    expect(twice.duplicates).toEqual(['r-old']);
  });

  it('holds history back for a task whose outcome is still to come, but for 14 days at most', () => {
    const first = start([registered(0, 'r1')], T0);
    // The code was due at T0+30m; its workers are down, so it has not run.
    const stillPending = next(first, [], T0 + days(10));
    expect(stillPending.instance.snapshot).toBeNull();

    const heldTooLong = next(first, [], T0 + days(30));
    expect(heldTooLong.instance.snapshot?.horizon).toBe(T0 + days(30) - MAX_HORIZON_HOLD_MS);
    expect(heldTooLong.instance.events).toEqual([]);

    // Folded, the task's outcome still moves the instance when it finally comes.
    const done = worked(first.facts, {
      status: 'COMPLETED',
      attempts: 1,
      startedAt: T0 + days(31),
      finishedAt: T0 + days(31),
    });
    const after = next(heldTooLong, [], T0 + days(31), done);
    expect(after.instance.state).toBe('nudged');
    expect(after.commands).toEqual([
      expect.objectContaining({
        type: 'schedule-task',
        task: expect.objectContaining({ taskType: 'discount-reminder' }),
      }),
    ]);
  });

  it('fails loudly when a recorded event can no longer be replayed', () => {
    const Tick = defineEvent({ source: 'test', detailType: 'Tick', schema: z.object({}) });
    const v1 = defineWorkflow({
      name: 'v',
      key: 'detail.k',
      events: [Tick],
      initial: 'a',
      states: { a: { on: { Tick: {} } } },
    });
    const v2 = defineWorkflow({
      name: 'v',
      key: 'detail.k',
      events: [Tick],
      initial: 'a',
      states: {
        a: {
          on: {
            Tick: {
              assign: () => {
                throw new Error('boom');
              },
            },
          },
        },
      },
    });
    const tick: RecordedEvent = {
      id: 't1',
      source: 'test',
      detailType: 'Tick',
      time: T0,
      detail: {},
    };
    const recorded = start([tick], T0, v1, 'k');
    expect(() => next({ ...recorded, workflow: v2 }, [], T0)).toThrow(HistoryReplayError);
  });

  it('cancels a scheduled task that re-ordered history no longer plans', () => {
    const stray: TaskFact = {
      taskId: 'welcome-discount#u1#send-discount-code#9',
      taskType: 'send-discount-code',
      status: 'SCHEDULED',
      attempts: 0,
      dueAt: T0,
      deadlineAt: null,
      input: null,
      startedAt: null,
      finishedAt: null,
      lateCancels: [],
    };
    const decision = decide(welcomeDiscount, fresh(), [], [stray], T0);
    expect(decision.commands).toEqual([
      { type: 'cancel-task', taskId: stray.taskId, cancelledBy: 'history', reason: 'superseded' },
    ]);
  });
});

describe('a busy key', () => {
  it('keeps its history under MAX_HISTORY_BYTES through 5,000 events, folding the oldest early', () => {
    let instance: Instance = newInstance(activity, 'busy');
    for (let n = 0; n < 5_000; n += 10) {
      const batch = Array.from({ length: 10 }, (_, i) => click(n + i));
      const decision = decide(activity, instance, batch, [], batch.at(-1)!.time + minutes(2));
      expect(decision.accepted).toHaveLength(10);
      instance = decision.instance;
      const bytes = new TextEncoder().encode(JSON.stringify(instance.events)).length;
      expect(bytes).toBeLessThanOrEqual(MAX_HISTORY_BYTES + 1_000);
    }
    // Nothing was lost: the folded events live on in the snapshot's context.
    expect(instance.context).toEqual({ clicks: 5_000 });
    expect(instance.events.length).toBeLessThan(5_000);
    expect(instance.snapshot!.horizon).toBeGreaterThan(T0 + days(1));

    // An event older than what the key still keeps is rejected as too late, with the reason.
    const late = decide(activity, instance, [{ ...click(10), id: 'late' }], [], T0 + days(8));
    expect(late.commands).toEqual([
      expect.objectContaining({
        type: 'reject-event',
        eventId: 'late',
        reason: expect.stringMatching(/^too late/),
      }),
    ]);
  });
});

describe('the replay window', () => {
  it('asks finished rows to be kept a week beyond the longest replay window', () => {
    const j1 = defineHourglass({
      taskTypes: [sendDiscountCode, discountReminder],
      workflows: [welcomeDiscount],
    });
    // J1 retains 7 days of history; an overdue task may hold it back to 14.
    expect(minimumRetentionMs(j1)).toBe(days(14) + days(7));
  });
});
