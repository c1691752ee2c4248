import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import {
  type Command,
  decide,
  defineEvent,
  defineTaskType,
  defineWorkflow,
  type Instance,
  newInstance,
  type RecordedEvent,
  type TaskFact,
  type Workflow,
} from '../../shared/core';

/**
 * Replays stay faithful to what happened: a decision that fires a timer and applies an
 * event, a timer whose move meets a task claimed just before, and a task that finished
 * without starting, each replay later to the same state, with the same tasks.
 */

const T = Date.parse('2026-02-02T10:00:00.000Z');
const MIN = 60_000;
const Start = defineEvent({
  source: 't',
  detailType: 'Start',
  schema: z.object({ k: z.string() }),
});
const Note = defineEvent({ source: 't', detailType: 'Note', schema: z.object({ k: z.string() }) });
const event = (type: { detailType: string }, id: string, time: number): RecordedEvent => ({
  id,
  source: 't',
  detailType: type.detailType,
  time,
  detail: { k: 'k1' },
});

/** The task rows a decision's commands leave, as facts (created SCHEDULED, or as written). */
function factsAfter(
  commands: readonly Command[],
  now: number,
  earlier: TaskFact[] = [],
): TaskFact[] {
  const facts = new Map(earlier.map((f) => [f.taskId, f]));
  for (const c of commands) {
    if (c.type === 'schedule-task') {
      facts.set(c.task.taskId, {
        taskId: c.task.taskId,
        taskType: c.task.taskType,
        status: c.task.fired ? 'COMPLETED' : c.task.cancelledBy ? 'CANCELLED' : 'SCHEDULED',
        attempts: 0,
        dueAt: c.task.dueAt,
        deadlineAt: c.task.deadlineAt,
        input: c.task.input,
        startedAt: c.task.fired ? now : null,
        finishedAt: c.task.fired || c.task.cancelledBy ? now : null,
        lateCancels: [],
        createdAt: now,
      });
    } else if (c.type === 'fire-timer') {
      const f = facts.get(c.taskId)!;
      facts.set(c.taskId, { ...f, status: 'COMPLETED', startedAt: now, finishedAt: now });
    }
  }
  return [...facts.values()];
}

function run(
  workflow: Workflow,
  steps: { now: number; events: RecordedEvent[]; facts?: (f: TaskFact[]) => TaskFact[] }[],
) {
  let instance: Instance = newInstance(workflow, 'k1');
  let facts: TaskFact[] = [];
  const states: string[] = [];
  for (const step of steps) {
    if (step.facts) facts = step.facts(facts);
    const d = decide(workflow, instance, step.events, facts, step.now);
    instance = d.instance;
    facts = factsAfter(d.commands, step.now, facts);
    states.push(d.instance.state);
  }
  return { states, facts };
}

describe('replaying timers', () => {
  it('an event applied in the decision that fired a timer stays before it on every later replay', () => {
    const workflow = defineWorkflow({
      name: 'notes',
      key: 'detail.k',
      events: [Start, Note],
      initial: 'idle',
      context: { notes: 0 },
      states: {
        idle: { on: { Start: { target: 'waiting' } } },
        waiting: {
          on: { Note: { assign: ({ context }) => ({ notes: context.notes + 1 }) } },
          after: {
            '1h': [
              {
                guard: { name: 'noted', test: ({ context }) => context.notes > 0 },
                target: 'noted',
              },
              { target: 'plain' },
            ],
          },
        },
        noted: {},
        plain: {},
      },
    });
    // The note (timed at +30m) arrives at +2h, in the decision that fires the 1h timer.
    const { states } = run(workflow, [
      { now: T, events: [event(Start, 's', T)] },
      { now: T + 120 * MIN, events: [event(Note, 'n', T + 30 * MIN)] },
      { now: T + 121 * MIN, events: [] },
    ]);
    expect(states).toEqual(['waiting', 'noted', 'noted']);
  });

  it("a timer's move sees a task claimed before it fired as claimed, in that decision and after", () => {
    const doX = defineTaskType({ name: 'do-x' });
    const workflow = defineWorkflow({
      name: 'claims',
      key: 'detail.k',
      events: [Start],
      initial: 'idle',
      states: {
        idle: { on: { Start: { target: 'waiting', schedule: { task: doX, after: '90m' } } } },
        waiting: { after: { '2h': { target: 'closing', cancel: doX } } },
        // Reached only if the timer's cancel had found do-x unclaimed.
        closing: { on: { 'do-x.cancelled': { target: 'cancelledX' } } },
        cancelledX: {},
      },
    });
    const claimed = (facts: TaskFact[]) =>
      facts.map((f) =>
        f.taskType === 'do-x'
          ? { ...f, status: 'RUNNING' as const, attempts: 1, startedAt: T + 90 * MIN }
          : f,
      );
    const { states, facts } = run(workflow, [
      { now: T, events: [event(Start, 's', T)] },
      { now: T + 120 * MIN, events: [], facts: claimed },
      { now: T + 121 * MIN, events: [] },
    ]);
    expect(states).toEqual(['waiting', 'closing', 'closing']);
    expect(facts.find((f) => f.taskType === 'do-x')?.status).toBe('RUNNING');
  });

  it('a task that expired without starting is not re-created by an event replayed from before', () => {
    const remind = defineTaskType({ name: 'remind' });
    const workflow = defineWorkflow({
      name: 'reminders',
      key: 'detail.k',
      events: [Start],
      initial: 'idle',
      states: {
        idle: { on: { Start: { schedule: { task: remind, after: '1h', collapse: 'replace' } } } },
      },
    });
    const dropped = (facts: TaskFact[]) =>
      facts.map((f) => ({ ...f, status: 'EXPIRED' as const, finishedAt: T + 70 * MIN }));
    const { facts } = run(workflow, [
      { now: T, events: [event(Start, 's1', T)] },
      { now: T + 10 * MIN, events: [event(Start, 's2', T + 10 * MIN)] },
      { now: T + 80 * MIN, events: [], facts: dropped },
      { now: T + 81 * MIN, events: [] },
    ]);
    expect(facts.map((f) => [f.taskId, f.status])).toEqual([['reminders#k1#remind#1', 'EXPIRED']]);
  });
});

describe('a recurrence that runs for months without an event', () => {
  it('folds its outcomes and fired timers, so rows that expired are never planned again', () => {
    const tick = defineTaskType({ name: 'tick' });
    const workflow = defineWorkflow({
      name: 'ticker',
      key: 'detail.k',
      events: [Start],
      initial: 'idle',
      states: {
        idle: { on: { Start: { target: 'on', schedule: { task: tick, every: '6h' } } } },
        on: {},
      },
    });
    const DAY = 24 * 60 * MIN;
    const RETENTION = 30 * DAY;
    let instance: Instance = newInstance(workflow, 'k1');
    let facts: TaskFact[] = [];
    let now = T;
    const replanned: string[] = [];
    for (let step = 0; now < T + 90 * DAY; step++) {
      const d = decide(workflow, instance, step === 0 ? [event(Start, 's', T)] : [], facts, now);
      for (const c of d.commands)
        if (c.type === 'schedule-task' && c.task.dueAt < now - DAY) replanned.push(c.task.taskId);
      instance = d.instance;
      facts = factsAfter(d.commands, now, facts)
        // The worker runs each occurrence when due; TTL deletes rows 30 days after they finish.
        .map((f) =>
          f.taskType === 'tick' && f.status === 'SCHEDULED' && f.dueAt <= now
            ? {
                ...f,
                status: 'COMPLETED' as const,
                attempts: 1,
                startedAt: f.dueAt,
                finishedAt: f.dueAt,
              }
            : f,
        )
        .filter((f) => f.finishedAt === null || f.finishedAt > now - RETENTION);
      // The next decision: when the next chain timer is due.
      const next = facts.filter((f) => f.taskType === '@timer' && f.status === 'SCHEDULED');
      now = Math.min(...next.map((f) => f.dueAt));
    }
    expect(replanned).toEqual([]);
    // The snapshot keeps up: its horizon is within the replay window of the last decision.
    expect(instance.snapshot!.horizon).toBeGreaterThan(now - 15 * DAY);
  });
});
