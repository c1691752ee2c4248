import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  type CapStore,
  memoryTelemetry,
  processTaskBatch,
  type TaskItem,
  type TaskStore,
  timerMessage,
} from '../../shared/aws';
import { capDecision, defineJourneyControl, defineTaskType, TaskStatus } from '../../shared/core';
import { T0 } from '../support/events';
import { taskItem } from '../support/tasks';

/**
 * Frequency caps at run time: before a capped task's first attempt is claimed, the worker
 * takes a slot of its person's caps. Over a cap, the task is deferred (a new run time, no
 * attempt used) or dropped (EXPIRED with the reason); a slot whose claim lost is given back.
 */

const marketing = defineJourneyControl({ name: 'marketing', caps: [{ max: 1, per: '1d' }] });
const promo = defineTaskType({ name: 'promo', journey: { control: marketing } });
const nudge = defineTaskType({ name: 'nudge', journey: { control: marketing, overCap: 'drop' } });

/** A cap store in memory, with the decision of the core. */
function memoryCaps() {
  const starts = new Map<string, Map<string, number>>();
  const released: string[] = [];
  const caps: CapStore = {
    async take(control, person, taskId, now) {
      const mine = starts.get(person) ?? new Map<string, number>();
      starts.set(person, mine);
      if (mine.has(taskId)) return { allowed: true };
      const decision = capDecision(control, [...mine.values()], now);
      if (decision.allowed) mine.set(taskId, now);
      return decision;
    },
    async release(_control, person, taskId) {
      starts.get(person)?.delete(taskId);
      released.push(taskId);
    },
  };
  return { caps, starts, released };
}

/** A task store in memory that applies a write only to the row as read. */
function memoryTasks(rows: TaskItem[], options: { loseClaims?: boolean } = {}) {
  const byId = new Map(rows.map((r) => [r.taskId, r]));
  const set = (task: TaskItem, fields: Partial<TaskItem>) => {
    const row = byId.get(task.taskId);
    if (row === undefined || row.generation !== task.generation || row.status !== task.status)
      return Promise.resolve(false);
    byId.set(task.taskId, { ...row, ...fields });
    return Promise.resolve(true);
  };
  const store: TaskStore = {
    get: async (ref) => byId.get(ref.taskId),
    claim: (task, { at }) =>
      options.loseClaims
        ? Promise.resolve(false)
        : set(task, { status: TaskStatus.RUNNING, attempt: task.attempt + 1, startedAt: at }),
    complete: (task, _attempt, at) =>
      set(
        { ...task, status: TaskStatus.RUNNING },
        { status: TaskStatus.COMPLETED, finishedAt: at },
      ),
    fail: async () => false,
    expire: (task, at, cause) =>
      set(task, { status: TaskStatus.EXPIRED, finishedAt: at, lastError: cause }),
    defer: (task, { runAt, reason }) =>
      set(task, { runAt, lastError: reason, generation: task.generation + 1 }),
    retry: async () => false,
  };
  return { store, row: (id: string) => byId.get(id)! };
}

const sqs = mockClient(SQSClient);
beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

const capped = (taskId: string, taskType: string) =>
  taskItem({ taskId, taskType, journeyKey: 'u1', runAt: T0, dueAt: T0 });
const event = (tasks: TaskItem[]): SQSEvent =>
  ({
    Records: tasks.map((t, i) => ({ messageId: `m${i}`, body: JSON.stringify(timerMessage(t)) })),
  }) as SQSEvent;
const lambda = { getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

/** A worker's dependencies on these stores, at T0. */
const workerDeps = (tasks: TaskStore, caps: CapStore) => ({
  tasks,
  caps,
  clock: () => T0,
  sqs: new SQSClient({ region: 'us-east-1' }),
  queueUrl: 'q',
  telemetry: memoryTelemetry().telemetry,
});

describe('a worker under frequency caps', () => {
  it('runs the first task, and defers the second to the first free slot without using an attempt', async () => {
    const { caps } = memoryCaps();
    const tasks = memoryTasks([capped('t1', 'promo'), capped('t2', 'promo')]);
    const ran: string[] = [];
    const deps = workerDeps(tasks.store, caps);
    await processTaskBatch(
      deps,
      promo,
      async (task) => void ran.push(task.taskId),
      event([capped('t1', 'promo')]),
      lambda,
    );
    await processTaskBatch(
      deps,
      promo,
      async (task) => void ran.push(task.taskId),
      event([capped('t2', 'promo')]),
      lambda,
    );
    expect(ran).toEqual(['t1']);
    expect(tasks.row('t2')).toMatchObject({
      status: 'SCHEDULED',
      attempt: 0,
      runAt: T0 + 86_400_000,
      generation: 2,
      lastError: `deferred to ${new Date(T0 + 86_400_000).toISOString()} by frequency cap 1 per 1d (journey control 'marketing')`,
    });
  });

  it('drops a task whose type says so: EXPIRED with the reason, never run', async () => {
    const { caps } = memoryCaps();
    await caps.take(marketing, 'u1', 'earlier', T0 - 1_000);
    const tasks = memoryTasks([capped('t3', 'nudge')]);
    let ran = false;
    const deps = workerDeps(tasks.store, caps);
    await processTaskBatch(
      deps,
      nudge,
      async () => {
        ran = true;
      },
      event([capped('t3', 'nudge')]),
      lambda,
    );
    expect(ran).toBe(false);
    expect(tasks.row('t3')).toMatchObject({
      status: 'EXPIRED',
      lastError: "dropped: over frequency cap 1 per 1d (journey control 'marketing')",
    });
  });

  it('gives the slot back when its claim loses to another writer', async () => {
    const { caps, released, starts } = memoryCaps();
    const tasks = memoryTasks([capped('t4', 'promo')], { loseClaims: true });
    const deps = workerDeps(tasks.store, caps);
    await processTaskBatch(deps, promo, async () => {}, event([capped('t4', 'promo')]), lambda);
    expect(released).toEqual(['t4']);
    expect(starts.get('u1')?.size).toBe(0);
  });
});

describe('a duplicate message under frequency caps', () => {
  it('does not give back the slot that the copy which won the claim is using', async () => {
    const { caps, released, starts } = memoryCaps();
    // Another copy of the message claimed the task first, with the slot this copy finds.
    await caps.take(marketing, 'u1', 't5', T0);
    const tasks = memoryTasks([{ ...capped('t5', 'promo'), status: 'RUNNING', attempt: 1 }], {
      loseClaims: true,
    });
    const deps = workerDeps(tasks.store, caps);
    // This copy read the row before the claim: SCHEDULED, no attempt.
    const stale = capped('t5', 'promo');
    const { releaseCap } = await import('../../shared/aws/worker-caps');
    await releaseCap(deps, promo, stale);
    expect(released).toEqual([]);
    expect(starts.get('u1')?.has('t5')).toBe(true);
  });
});

describe('a worker under quiet hours', () => {
  it('holds a task about to start inside them until their end, without using an attempt', async () => {
    // 09:00 UTC is inside 08:00–10:00 UTC.
    const morning = defineJourneyControl({
      name: 'no-mornings',
      quietHours: { from: '08:00', to: '10:00' },
    });
    const note = defineTaskType({ name: 'note', journey: { control: morning } });
    const held = {
      ...taskItem({ taskId: 't6', taskType: 'note', runAt: T0, dueAt: T0 }),
      journeyZone: 'UTC',
    };
    const tasks = memoryTasks([held]);
    let ran = false;
    await processTaskBatch(
      workerDeps(tasks.store, memoryCaps().caps),
      note,
      async () => {
        ran = true;
      },
      event([held]),
      lambda,
    );
    expect(ran).toBe(false);
    expect(tasks.row('t6')).toMatchObject({
      status: 'SCHEDULED',
      attempt: 0,
      runAt: T0 + 3_600_000,
      lastError: `deferred to ${new Date(T0 + 3_600_000).toISOString()} by quiet hours 08:00–10:00 UTC (journey control 'no-mornings')`,
    });
  });
});
