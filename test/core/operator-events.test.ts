import { describe, expect, it } from 'vitest';
import {
  decide,
  type Json,
  newInstance,
  OPERATOR_SOURCE,
  OperatorAction,
  type RecordedEvent,
  type TaskFact,
} from '../../shared/core';
import { productPublish } from '../../workflows';
import { hours, minutes, T0 } from '../support/events';

const TASK = 'product-publish#p1#publish-product#1';
const scheduled = (id: string, offset: number, publishAt = T0 + hours(2)): RecordedEvent => ({
  id,
  source: 'shop',
  detailType: 'ProductPublishScheduled',
  time: T0 + offset,
  detail: { productId: 'p1', publishAt: new Date(publishAt).toISOString() },
});
const operatorCancel = (id: string, offset: number, taskId = TASK): RecordedEvent => ({
  id,
  source: OPERATOR_SOURCE,
  detailType: OperatorAction.cancel,
  time: T0 + offset,
  detail: { taskId, reason: 'launch postponed', by: 'ops@example.com' },
});
const fact = (fields: Partial<TaskFact> = {}): TaskFact => ({
  taskId: TASK,
  taskType: 'publish-product',
  status: 'SCHEDULED',
  attempts: 0,
  dueAt: T0 + hours(2),
  deadlineAt: null,
  input: {},
  startedAt: null,
  finishedAt: null,
  lateCancels: [],
  ...fields,
});

/** The product's first decision: its publication scheduled 2 hours ahead. */
const first = decide(
  productPublish,
  newInstance(productPublish, 'p1'),
  [scheduled('s1', 0)],
  [],
  T0,
);

describe("an operator's cancel, recorded in the instance's history", () => {
  // Ten minutes in, an operator cancels the pending publication.
  const cancelled = decide(
    productPublish,
    first.instance,
    [operatorCancel('op-1', minutes(10))],
    [fact()],
    T0 + minutes(10),
  );

  it('cancels an unclaimed task through the same command an event would', () => {
    expect(cancelled.commands).toEqual([
      expect.objectContaining({ type: 'cancel-task', taskId: TASK, cancelledBy: 'op-1' }),
    ]);
    expect(cancelled.instance.events.map((e) => e.id)).toEqual(['s1', 'op-1']);
  });

  it('stays cancelled when an earlier event arrives late, and a later trigger schedules anew', () => {
    const gone = fact({ status: 'CANCELLED', finishedAt: T0 + minutes(10) });
    // An older schedule of the same product, delivered late: replayed before the cancel.
    const late = decide(
      productPublish,
      cancelled.instance,
      [scheduled('s0', -minutes(5))],
      [gone],
      T0 + minutes(15),
    );
    expect(late.commands).toEqual([]);
    const anew = decide(
      productPublish,
      late.instance,
      [scheduled('s2', minutes(20), T0 + hours(3))],
      [gone],
      T0 + minutes(20),
    );
    expect(anew.commands).toEqual([
      expect.objectContaining({
        type: 'schedule-task',
        task: expect.objectContaining({ dueAt: T0 + hours(3) }),
      }),
    ]);
  });

  it('records a late cancel, and leaves the task running, when a worker claimed it first', () => {
    const running = fact({ status: 'RUNNING', attempts: 1, startedAt: T0 + minutes(5) });
    const decision = decide(
      productPublish,
      first.instance,
      [operatorCancel('op-1', minutes(10))],
      [running],
      T0 + minutes(10),
    );
    expect(decision.commands).toEqual([
      { type: 'record-late-cancel', taskId: TASK, cancelledBy: 'op-1' },
    ]);
  });
});

describe("an operator's reschedule", () => {
  const move = (id: string, offset: number, dueAt: number): RecordedEvent => ({
    id,
    source: OPERATOR_SOURCE,
    detailType: OperatorAction.reschedule,
    time: T0 + offset,
    detail: {
      taskId: TASK,
      dueAt: new Date(dueAt).toISOString(),
      reason: 'launch moved',
      by: 'ops',
    },
  });

  it('moves an unclaimed task to the new due time, and keeps it there on later decisions', () => {
    const moved = decide(
      productPublish,
      first.instance,
      [move('op-2', minutes(10), T0 + hours(5))],
      [fact()],
      T0 + minutes(10),
    );
    expect(moved.commands).toEqual([
      expect.objectContaining({ type: 'update-task', taskId: TASK, dueAt: T0 + hours(5) }),
    ]);
    // Decided again (a duplicate delivery of the original trigger): nothing moves it back.
    const again = decide(
      productPublish,
      moved.instance,
      [scheduled('s1', 0)],
      [fact({ dueAt: T0 + hours(5), input: (moved.commands[0] as { input: Json }).input })],
      T0 + minutes(12),
    );
    expect(again.commands).toEqual([]);
  });

  it('changes nothing for a task a worker has claimed', () => {
    const running = fact({ status: 'RUNNING', attempts: 1, startedAt: T0 + minutes(5) });
    expect(
      decide(
        productPublish,
        first.instance,
        [move('op-2', minutes(10), T0 + hours(5))],
        [running],
        T0 + minutes(10),
      ).commands,
    ).toEqual([]);
  });
});

describe("an operator's retry of a failed task", () => {
  const retry = (id: string, offset: number, taskId = TASK): RecordedEvent => ({
    id,
    source: OPERATOR_SOURCE,
    detailType: OperatorAction.retry,
    time: T0 + offset,
    detail: { taskId, reason: 'the shop API is back', by: 'ops' },
  });
  const failed = fact({
    status: 'FAILED',
    attempts: 3,
    startedAt: T0 + hours(2),
    finishedAt: T0 + hours(2) + minutes(5),
  });

  it('creates a new incarnation due at the retry, with its attempts counted afresh', () => {
    const retried = decide(
      productPublish,
      first.instance,
      [retry('op-3', hours(3))],
      [failed],
      T0 + hours(3),
    );
    expect(retried.commands).toEqual([
      expect.objectContaining({
        type: 'schedule-task',
        task: expect.objectContaining({ taskId: `${TASK}#r2`, dueAt: T0 + hours(3) }),
      }),
    ]);
  });

  it('writes nothing more on later decisions, and runs the new incarnation to its own outcome', () => {
    const retried = decide(
      productPublish,
      first.instance,
      [retry('op-3', hours(3))],
      [failed],
      T0 + hours(3),
    );
    const { input } = (retried.commands[0] as { task: { input: Json } }).task;
    const second = fact({ taskId: `${TASK}#r2`, dueAt: T0 + hours(3), input });
    const again = decide(
      productPublish,
      retried.instance,
      [scheduled('s1', 0)], // a duplicate delivery
      [failed, second],
      T0 + hours(3) + minutes(1),
    );
    expect(again.commands).toEqual([]);
    const done = fact({
      input,
      taskId: `${TASK}#r2`,
      dueAt: T0 + hours(3),
      status: 'COMPLETED',
      attempts: 1,
      startedAt: T0 + hours(3),
      finishedAt: T0 + hours(3) + minutes(1),
    });
    const finished = decide(productPublish, retried.instance, [], [failed, done], T0 + hours(4));
    expect(finished.commands).toEqual([]);
  });
});

describe('a retry and the events that came while the first attempt ran', () => {
  const cancelEvent = (id: string, offset: number, appliedAt: number): RecordedEvent => ({
    id,
    source: 'shop',
    detailType: 'ProductPublishCancelled',
    time: T0 + offset,
    detail: { productId: 'p1' },
    appliedAt,
  });

  it('still sees the first incarnation running then: a late cancel stays late, and the retry stands', () => {
    // The publication ran at +2h and failed at +2h05; a cancel arrived at +2h01, while it
    // ran (a late cancel); the operator retried at +3h.
    const ranAndFailed = fact({
      status: 'FAILED',
      attempts: 1,
      startedAt: T0 + hours(2),
      finishedAt: T0 + hours(2) + minutes(5),
      lateCancels: ['late'],
      createdAt: T0,
    });
    const history = {
      ...first.instance,
      events: [
        ...first.instance.events,
        cancelEvent('late', hours(2) + minutes(1), T0 + hours(2) + minutes(1)),
      ],
    };
    const retried = decide(
      productPublish,
      history,
      [
        {
          id: 'op-4',
          source: OPERATOR_SOURCE,
          detailType: OperatorAction.retry,
          time: T0 + hours(3),
          detail: { taskId: TASK, reason: 'shop API back', by: 'ops' },
        },
      ],
      [ranAndFailed],
      T0 + hours(3),
    );
    const created = retried.commands.find((c) => c.type === 'schedule-task') as {
      task: { taskId: string; input: Json };
    };
    expect(created.task.taskId).toBe(`${TASK}#r2`);
    // The next decision knows the new incarnation, not yet started: the late cancel, applied
    // while the first ran, must not now cancel the retry.
    const second = fact({
      taskId: `${TASK}#r2`,
      dueAt: T0 + hours(3),
      input: created.task.input,
      createdAt: T0 + hours(3),
    });
    const next = decide(
      productPublish,
      retried.instance,
      [scheduled('s1', 0)], // a duplicate delivery: a decision that changes nothing
      [ranAndFailed, second],
      T0 + hours(3) + minutes(1),
    );
    expect(next.commands).toEqual([]);
  });
});
