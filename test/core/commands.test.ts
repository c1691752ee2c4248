import { describe, expect, it } from 'vitest';
import { type Command, simulate, taskRowEffect } from '../../shared/core';
import definitions from '../../workflows';
import { minutes, shopEvent, T0 } from '../support/events';

const at = new Date(T0).toISOString();
const task = {
  taskId: 'w#k#t#1',
  workflow: 'w',
  key: 'k',
  taskType: 't',
  dueAt: T0 + minutes(30),
  deadlineAt: null,
  input: { a: 1 },
  createdBy: 'e1',
};

describe('taskRowEffect: what a command does to task rows', () => {
  it('creates a row for a planned task, and a CANCELLED one for a task history also cancels', () => {
    expect(
      taskRowEffect({ type: 'schedule-task', task: { ...task, cancelledBy: null } }, 'w', T0),
    ).toEqual({
      type: 'create',
      row: {
        ...task,
        status: 'SCHEDULED',
        runAt: task.dueAt,
        timeline: [{ at, status: 'SCHEDULED', cause: 'e1' }],
      },
    });
    const born = taskRowEffect(
      { type: 'schedule-task', task: { ...task, cancelledBy: 'e2' } },
      'w',
      T0,
    );
    expect(born).toMatchObject({
      row: { status: 'CANCELLED', cancelledBy: 'e2', finishedAt: T0 },
    });
  });

  it('cancels or moves only a row still SCHEDULED as read, in a new generation', () => {
    const cancel: Command = {
      type: 'cancel-task',
      taskId: task.taskId,
      cancelledBy: 'e3',
      reason: 'superseded',
    };
    expect(taskRowEffect(cancel, 'w', T0)).toEqual({
      type: 'change',
      change: {
        taskId: task.taskId,
        whileScheduled: true,
        newGeneration: true,
        set: { status: 'CANCELLED', cancelledBy: 'e3', finishedAt: T0 },
        timeline: [{ at, status: 'CANCELLED', cause: 'superseded by re-ordered history' }],
      },
    });
    const move: Command = {
      type: 'update-task',
      taskId: task.taskId,
      dueAt: T0 + minutes(50),
      deadlineAt: null,
      input: {},
    };
    expect(taskRowEffect(move, 'w', T0)).toMatchObject({
      change: { whileScheduled: true, newGeneration: true, set: { runAt: T0 + minutes(50) } },
    });
  });

  it('notes a late cancel on the row as it is, with the status it has', () => {
    const late: Command = { type: 'record-late-cancel', taskId: task.taskId, cancelledBy: 'e4' };
    expect(taskRowEffect(late, 'w', T0, () => 'COMPLETED')).toEqual({
      type: 'change',
      change: {
        taskId: task.taskId,
        whileScheduled: false,
        newGeneration: false,
        set: {},
        timeline: [{ at, status: 'COMPLETED', cause: 'cancel too late (e4)' }],
        lateCancel: 'e4',
      },
    });
  });

  it('is what the simulator applies: a late cancel shows in the task timeline', async () => {
    // u1's code is due at +30m. An OrderPlaced timed +20m that arrives at +45m, after the
    // code was sent, is too late to cancel it.
    const result = await simulate({
      definitions,
      events: [
        {
          event: shopEvent('UserRegistered', { userId: 'u1', email: 'u1@x.io' }, 0, 'r'),
          arrivedAt: T0,
        },
        {
          event: shopEvent(
            'OrderPlaced',
            { userId: 'u1', orderId: 'o', total: 1 },
            minutes(20),
            'o',
          ),
          arrivedAt: T0 + minutes(45),
        },
      ],
      until: T0 + minutes(60),
    });
    const code = result.tasks.find((t) => t.taskType === 'send-discount-code')!;
    expect(code.status).toBe('COMPLETED');
    expect(code.lateCancel).toBe(true);
    expect(code.timeline.at(-1)).toMatchObject({
      status: 'COMPLETED',
      cause: 'cancel too late (o)',
    });
  });
});
