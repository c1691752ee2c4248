import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  decide,
  defineEvent,
  defineTaskType,
  defineWorkflow,
  newInstance,
} from '../../shared/core';
import { T0 } from '../support/events';

// This file is type-checked by `npm test`: a transition on a task's outcome must see the
// workflow's context type (it used to be an implicit any, TS7031, under strict settings).
const Paid = defineEvent({
  source: 'billing',
  detailType: 'Paid',
  schema: z.object({ id: z.string() }),
});
const receipt = defineTaskType({ name: 'send-receipt' });
const billing = defineWorkflow({
  name: 'billing',
  key: 'detail.id',
  events: [Paid],
  initial: 'open',
  context: { receipts: 0 },
  states: {
    open: {
      on: {
        Paid: { schedule: { task: receipt, after: '1m' } },
        'send-receipt.completed': {
          assign: ({ context, event }) => ({ receipts: context.receipts + event.detail.attempts }),
        },
      },
    },
  },
});

describe('transitions on task outcomes', () => {
  it('are typed from the workflow context and the outcome detail', () => {
    const paid = { id: 'p1', source: 'billing', detailType: 'Paid', time: T0, detail: { id: 'a' } };
    const first = decide(billing, newInstance(billing, 'a'), [paid], [], T0);
    const task = first.commands.find((c) => c.type === 'schedule-task');
    expect(task?.type).toBe('schedule-task');
    const done = {
      taskId: task?.type === 'schedule-task' ? task.task.taskId : '',
      taskType: 'send-receipt',
      status: 'COMPLETED' as const,
      attempts: 1,
      dueAt: T0 + 60_000,
      deadlineAt: null,
      input: null,
      startedAt: T0 + 60_000,
      finishedAt: T0 + 61_000,
      lateCancels: [],
    };
    expect(decide(billing, first.instance, [], [done], T0 + 62_000).instance.context).toEqual({
      receipts: 1,
    });
  });
});
