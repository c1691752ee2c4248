import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  backoffMs,
  DefinitionError,
  defineEvent,
  defineHourglass,
  defineRule,
  defineTaskType,
  defineWorkflow,
  findWorkflow,
  type TaskTypeOptions,
} from '../../shared/core';

const Ping = defineEvent({
  source: 'test',
  detailType: 'Ping',
  schema: z.object({ id: z.string() }),
});
const Stop = defineEvent({
  source: 'test',
  detailType: 'Stop',
  schema: z.object({ id: z.string() }),
});
const work = defineTaskType({ name: 'work' });

/** A valid one-state workflow; tests break one part at a time. */
function workflowWith(overrides: Record<string, unknown>) {
  return defineWorkflow({
    name: 'w',
    key: 'detail.id',
    events: [Ping, Stop],
    initial: 'a',
    states: {
      a: { on: { Ping: { schedule: { task: work, after: '1m' } }, Stop: { cancel: work } } },
    },
    ...overrides,
  } as Parameters<typeof defineWorkflow>[0]);
}

describe('defineTaskType', () => {
  it('fills in the documented defaults', () => {
    expect(defineTaskType({ name: 'send-it' })).toEqual({
      kind: 'task-type',
      name: 'send-it',
      timeoutMs: 30_000,
      deadlineMs: null,
      totalTimeoutMs: null,
      retry: { maxAttempts: 3, backoff: 'exponential', initialMs: 10_000, maxMs: 300_000 },
      concurrency: null,
      precision: 'second',
      tenantPath: null,
      journey: null,
    });
  });

  it.each<[string, TaskTypeOptions, string]>([
    ['a bad name', { name: 'Send_It' }, "task type 'Send_It': name must be lower-case letters"],
    [
      'zero attempts',
      { name: 't', retry: { maxAttempts: 0 } },
      "task type 't': retry.maxAttempts must be an integer ≥ 1, got 0 (number)",
    ],
    [
      'an unknown backoff',
      { name: 't', retry: { backoff: 'linear' as 'fixed' } },
      'retry.backoff must be "fixed" or "exponential", got "linear" (string)',
    ],
    [
      'a bad initial backoff',
      { name: 't', retry: { initial: 'soon' } },
      "task type 't': retry.initial must be a duration",
    ],
    [
      'a max below the initial backoff',
      { name: 't', retry: { initial: '1m', max: '10s' } },
      'retry.max (10s) must not be shorter than retry.initial (1m)',
    ],
    [
      'a total timeout shorter than one attempt',
      { name: 't', timeout: '5m', totalTimeout: '1m' },
      "task type 't': totalTimeout (1m) is shorter than one attempt's timeout (5m): lengthen totalTimeout or shorten timeout",
    ],
    [
      'a deadline past the total timeout',
      { name: 't', deadline: '3h', totalTimeout: '2h' },
      'deadline (3h) is later than totalTimeout (2h): a task could never start after 2h; shorten deadline or lengthen totalTimeout',
    ],
    [
      'a timeout over the Lambda limit',
      { name: 't', timeout: '20m' },
      'timeout must be between 1s and 15m (the Lambda limit), got "20m"',
    ],
    [
      'a bad deadline',
      { name: 't', deadline: 'later' },
      "task type 't': deadline must be a duration",
    ],
    [
      'a concurrency of 1',
      { name: 't', concurrency: 1 },
      'concurrency must be an integer from 2 to 1000 (SQS maximum concurrency), got 1 (number)',
    ],
    [
      'a lane, which was never enforced',
      { name: 't', lane: 'low' } as never,
      'lane is no longer an option: lanes were never enforced; cap a task type with concurrency instead',
    ],
    [
      'an unknown precision',
      { name: 't', precision: 'hour' as 'minute' },
      'precision must be "second" or "minute", got "hour" (string)',
    ],
  ])('refuses %s', (_, options, message) => {
    expect(() => defineTaskType(options)).toThrow(DefinitionError);
    expect(() => defineTaskType(options)).toThrow(message);
  });

  it('backs off exponentially up to the cap, or by a fixed wait', () => {
    const retry = defineTaskType({ name: 't', retry: { initial: '10s', max: '25s' } }).retry;
    expect([1, 2, 3].map((attempt) => backoffMs(retry, attempt))).toEqual([10_000, 20_000, 25_000]);
    const fixed = defineTaskType({ name: 'f', retry: { backoff: 'fixed', initial: '5s' } }).retry;
    expect([1, 2, 3].map((attempt) => backoffMs(fixed, attempt))).toEqual([5_000, 5_000, 5_000]);
  });
});

describe('defineEvent', () => {
  it.each([
    [
      'a detail-type with a dot',
      { source: 's', detailType: 'a.b', schema: z.object({}) },
      'must not contain "."',
    ],
    [
      'a detail-type with spaces',
      { source: 's', detailType: 'Hello World', schema: z.object({}) },
      'detailType must be letters',
    ],
    [
      'an empty source',
      { source: '', detailType: 'A', schema: z.object({}) },
      'source must be a non-empty string',
    ],
    [
      'the reserved source',
      { source: 'hourglass', detailType: 'A', schema: z.object({}) },
      'source "hourglass" is reserved',
    ],
    [
      'a schema that is not a Standard Schema',
      { source: 's', detailType: 'A', schema: {} },
      'schema must be a Standard Schema',
    ],
  ])('refuses %s', (_, options, message) => {
    expect(() => defineEvent(options as Parameters<typeof defineEvent>[0])).toThrow(message);
  });
});

describe('defineWorkflow', () => {
  it('compiles states and transitions, defaulting the target to the current state', () => {
    const workflow = workflowWith({});
    expect(workflow.states.a?.on.Ping?.[0]).toMatchObject({
      source: 'a',
      target: 'a',
      trigger: 'Ping',
    });
    expect(workflow.taskTypes).toEqual([work]);
    expect(workflow.retainMs).toBe(7 * 86_400_000);
  });

  it.each([
    ['a bad name', { name: 'W W' }, "workflow 'W W': name must be"],
    ['a bad key path', { key: 'detail.' }, 'key must be a dotted path'],
    ['no events', { events: [] }, 'events must list the event types it consumes'],
    ['an event listed twice', { events: [Ping, Ping] }, "event 'Ping' is listed twice in events"],
    [
      'a plain object as an event',
      { events: [{ detailType: 'Ping' }] },
      'events must be made with defineEvent()',
    ],
    ['no states', { states: {} }, 'states must define at least one state'],
    [
      'an unknown initial state',
      { initial: 'b' },
      "initial state 'b' is not defined; states are: a",
    ],
    ['a bad retain', { retain: 'forever' }, 'retain must be a duration'],
    ['a non-object context', { context: [] }, 'context must be a JSON object'],
    ['a bad state name', { initial: '1st', states: { '1st': {} } }, 'state names must be letters'],
    [
      'a transition on an unknown event',
      { states: { a: { on: { Pong: {} } } } },
      "state 'a' on 'Pong': the workflow consumes no event 'Pong'; add it to events or use one of: Ping, Stop",
    ],
    [
      'an unknown outcome',
      { states: { a: { on: { Ping: { schedule: { task: work } }, 'work.done': {} } } } },
      "'done' is not a task outcome; use one of completed, failed, expired, cancelled",
    ],
    [
      'an outcome of a task never scheduled',
      { states: { a: { on: { 'work.completed': {} } } } },
      "the workflow never schedules a task of type 'work', so this transition can never run",
    ],
    [
      'an unknown target',
      { states: { a: { on: { Ping: { target: 'b' } } } } },
      "target state 'b' is not defined; states are: a",
    ],
    [
      'a final state with transitions',
      { states: { a: { final: true, on: { Ping: {} } } } },
      'a final state cannot have transitions',
    ],
    [
      'an unguarded alternative before another',
      { states: { a: { on: { Ping: [{}, {}] } } } },
      'alternative 1 has no guard, so the alternatives after it can never run',
    ],
    [
      'a guard without a name',
      { states: { a: { on: { Ping: [{ guard: () => true }, {}] } } } },
      'guard must be { name: "<label>", test:',
    ],
    [
      'an assign that is not a function',
      { states: { a: { on: { Ping: { assign: {} } } } } },
      'assign must be a function',
    ],
    [
      'a task given by name',
      { states: { a: { on: { Ping: { schedule: { task: 'work' } } } } } },
      'schedule.task must be a task type made with defineTaskType(), got "work" (string)',
    ],
    [
      'a cancel given by name',
      { states: { a: { on: { Ping: { cancel: 'work' } } } } },
      'cancel[0] must be a task type made with defineTaskType()',
    ],
    [
      'an update without input',
      { states: { a: { on: { Ping: { update: { task: work } } } } } },
      'update[0].input must be a function',
    ],
    [
      'before without at',
      {
        states: { a: { on: { Ping: { schedule: { task: work, before: '1m' } } } } },
      },
      'before counts back from a time in the event',
    ],
    [
      'a bad delay',
      { states: { a: { on: { Ping: { schedule: { task: work, after: 'soon' } } } } } },
      "schedule 'work': after must be a duration",
    ],
    [
      'a bad at path',
      { states: { a: { on: { Ping: { schedule: { task: work, at: 'detail..x' } } } } } },
      'at must be a dotted path',
    ],
    [
      'a deadline shorter than the delay',
      {
        states: {
          a: {
            on: { Ping: { schedule: { task: work, after: '30m', deadline: { after: '20m' } } } },
          },
        },
      },
      'deadline.after (20m) is shorter than after (30m), so the task would always expire',
    ],
    [
      'a deadline with both forms',
      {
        states: {
          a: {
            on: { Ping: { schedule: { task: work, deadline: { after: '1m', at: 'detail.x' } } } },
          },
        },
      },
      'deadline must be { after:',
    ],
    [
      'a debounce with a delay',
      {
        states: {
          a: {
            on: {
              Ping: {
                schedule: { task: work, after: '1m', collapse: { debounce: { period: '1m' } } },
              },
            },
          },
        },
      },
      'a debounce sets the due time itself',
    ],
    [
      'a debounce max wait below its period',
      {
        states: {
          a: {
            on: {
              Ping: {
                schedule: { task: work, collapse: { debounce: { period: '20m', maxWait: '10m' } } },
              },
            },
          },
        },
      },
      'collapse.debounce.maxWait (10m) must not be shorter than its period (20m)',
    ],
    [
      'an unknown collapse policy',
      { states: { a: { on: { Ping: { schedule: { task: work, collapse: 'latest' } } } } } },
      'collapse must be "keep-first", "replace", "per-trigger" or { debounce: { period, maxWait } }, got "latest" (string)',
    ],
    [
      'an input that is not a function',
      { states: { a: { on: { Ping: { schedule: { task: work, input: {} } } } } } },
      'input must be a function',
    ],
    [
      'two task types with one name',
      {
        states: {
          a: {
            on: {
              Ping: { schedule: { task: work } },
              Stop: { cancel: defineTaskType({ name: 'work' }) },
            },
          },
        },
      },
      "two different task types are named 'work'",
    ],
  ])('refuses %s, saying how to fix it', (_, overrides, message) => {
    expect(() => workflowWith(overrides)).toThrow(DefinitionError);
    expect(() => workflowWith(overrides)).toThrow(message);
  });
});

describe('defineRule', () => {
  it('compiles to one idle state that schedules on the trigger and cancels on a cancel event, with no transition on the outcome', () => {
    const rule = defineRule({
      name: 'r',
      key: 'detail.id',
      on: Ping,
      schedule: { task: work, after: '5m' },
      cancelOn: [Stop],
    });
    expect(Object.keys(rule.states)).toEqual(['idle']);
    expect(rule.transitions.map((t) => `${t.source} -${t.trigger}-> ${t.target}`)).toEqual([
      'idle -Ping-> idle',
      'idle -Stop-> idle',
    ]);
    expect(
      rule.transitions.map((t) => [
        t.schedules.map((s) => s.task.name),
        t.cancels.map((c) => c.name),
      ]),
    ).toEqual([
      [['work'], []],
      [[], ['work']],
    ]);
  });

  it('refuses a trigger that is not an event type', () => {
    expect(() =>
      defineRule({ name: 'r', key: 'detail.id', on: 'Ping' as never, schedule: { task: work } }),
    ).toThrow("rule 'r': on must be an event type made with defineEvent()");
  });

  it('refuses a schedule without a task type', () => {
    expect(() =>
      defineRule({ name: 'r', key: 'detail.id', on: Ping, schedule: {} as never }),
    ).toThrow("rule 'r': schedule.task must be a task type made with defineTaskType()");
  });
});

describe('defineHourglass', () => {
  const workflow = workflowWith({});

  it('gathers task types, events and workflows', () => {
    const definitions = defineHourglass({ taskTypes: [work], workflows: [workflow] });
    expect(definitions.events).toEqual([Ping, Stop]);
    expect(findWorkflow(definitions, 'w')).toBe(workflow);
  });

  it.each([
    [
      'a task type listed twice',
      { taskTypes: [work, work], workflows: [workflow] },
      "task type 'work' is listed twice in taskTypes",
    ],
    [
      'a task type that is not declared',
      { taskTypes: [], workflows: [workflow] },
      "workflow 'w' uses task type 'work', which is not in taskTypes; add it there",
    ],
    [
      'another task type of the same name',
      { taskTypes: [defineTaskType({ name: 'work' })], workflows: [workflow] },
      "two different task types are named 'work'",
    ],
    [
      'a workflow listed twice',
      { taskTypes: [work], workflows: [workflow, workflow] },
      "workflow 'w' is listed twice in workflows",
    ],
    [
      'a workflow not made with defineWorkflow',
      { taskTypes: [work], workflows: [{ name: 'x' }] },
      'workflows[0] must be made with defineWorkflow() or defineRule()',
    ],
    [
      'no workflows',
      { taskTypes: [work], workflows: [] },
      'workflows must list at least one workflow',
    ],
    [
      'an event defined twice',
      {
        taskTypes: [work],
        workflows: [workflow],
        events: [defineEvent({ source: 'test', detailType: 'Ping', schema: z.object({}) })],
      },
      "defines event 'Ping' from 'test' again; define each event once and share it",
    ],
  ])('refuses %s', (_, options, message) => {
    expect(() => defineHourglass(options as Parameters<typeof defineHourglass>[0])).toThrow(
      message,
    );
  });

  it('names the workflows there are when one is unknown', () => {
    const definitions = defineHourglass({ taskTypes: [work], workflows: [workflow] });
    expect(() => findWorkflow(definitions, 'x')).toThrow(
      "unknown workflow 'x'; the workflows are: w",
    );
  });
});
