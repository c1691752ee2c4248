import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  defineEvent,
  defineHourglass,
  defineTaskType,
  defineWorkflow,
  type Json,
} from '../../shared/core';
import { scenario } from '../../shared/core/testing';

/**
 * Task results: a handler's small JSON return value reaches the workflow in the completed
 * outcome's `detail.result`, for its guards and assigns. The product journey: a sign-up
 * gets a generated discount code, and the reminder three days later quotes that code.
 */

const UserRegistered = defineEvent({
  source: 'shop',
  detailType: 'UserRegistered',
  schema: z.object({ userId: z.string() }),
});
const sendCode = defineTaskType({ name: 'send-code' });
/** The code in a send-code result, when the handler returned one. */
const codeOf = (result: Json | undefined): string | null =>
  typeof result === 'object' &&
  result !== null &&
  !Array.isArray(result) &&
  typeof result.code === 'string'
    ? result.code
    : null;
const remind = defineTaskType({ name: 'remind' });
const welcome = defineWorkflow({
  name: 'welcome',
  key: 'detail.userId',
  events: [UserRegistered],
  initial: 'new',
  context: { code: null as string | null },
  startOverOn: [],
  states: {
    new: { on: { UserRegistered: { target: 'waiting', schedule: { task: sendCode } } } },
    waiting: {
      on: {
        'send-code.completed': [
          {
            // Only a code the mailer actually generated is quoted.
            guard: {
              name: 'a code was generated',
              test: ({ event }) => codeOf(event.detail.result) !== null,
            },
            target: 'nudged',
            assign: ({ event }) => ({ code: codeOf(event.detail.result) }),
            schedule: {
              task: remind,
              after: '3d',
              input: ({ event }) => ({ code: codeOf(event.detail.result) }),
            },
          },
          { target: 'done' },
        ],
      },
    },
    nudged: { on: { 'remind.completed': { target: 'done' } } },
    done: { final: true },
  },
});
const definitions = defineHourglass({ taskTypes: [sendCode, remind], workflows: [welcome] });

describe('task results', () => {
  it("carry the code the first task generated into the workflow's context and the reminder's input", async () => {
    const s = scenario(definitions, { start: '2026-03-01T09:00:00.000Z' })
      .emit(UserRegistered, { userId: 'u1' })
      .returning(sendCode, () => ({ code: 'WELCOME-7Q2' }));
    const result = await s.run();
    expect(result.task(sendCode, 'u1')).toMatchObject({
      status: 'COMPLETED',
      result: { code: 'WELCOME-7Q2' },
    });
    expect(result.task(remind, 'u1')).toMatchObject({
      input: { code: 'WELCOME-7Q2' },
      dueAt: s.time('3d'),
    });
    expect(result.instance(welcome, 'u1')).toMatchObject({
      state: 'done',
      context: { code: 'WELCOME-7Q2' },
    });
  });

  it('leave a guard on the result false when the handler returned nothing', async () => {
    const result = await scenario(definitions, { start: '2026-03-01T09:00:00.000Z' })
      .emit(UserRegistered, { userId: 'u2' })
      .run();
    expect(result.task(sendCode, 'u2').result).toBeUndefined();
    expect(result.tasksOf(remind, 'u2')).toEqual([]);
    expect(result.instance(welcome, 'u2').state).toBe('done');
  });
});
