import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Context, SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import {
  leaseEnd,
  memoryTelemetry,
  NonRetryableError,
  type TaskItem,
  type TaskStore,
  timerMessage,
  type WorkerDeps,
  worker,
} from '../../shared/aws';
import { defineTaskType, TaskStatus } from '../../shared/core';
import { T0 } from '../support/events';
import { taskItem } from '../support/tasks';

/**
 * The worker middleware through the real middy wrapper, on an in-memory task store that
 * keeps the conditional semantics of the DynamoDB one: a write applies only to the row the
 * caller read.
 */
function memoryTaskStore(rows: TaskItem[]) {
  const byId = new Map(rows.map((r) => [r.taskId, r]));
  const writes: ({ op: string; taskId: string; fields: Partial<TaskItem> } & Partial<TaskItem>)[] =
    [];
  const apply = (
    op: string,
    task: TaskItem,
    guard: (row: TaskItem) => boolean,
    fields: Partial<TaskItem>,
  ) => {
    const row = byId.get(task.taskId);
    if (row === undefined || !guard(row)) return Promise.resolve(false);
    byId.set(task.taskId, { ...row, ...fields });
    writes.push({ ...fields, op, taskId: task.taskId, fields });
    return Promise.resolve(true);
  };
  const asRead = (task: TaskItem) => (row: TaskItem) =>
    row.status === task.status &&
    row.generation === task.generation &&
    row.leaseUntil === task.leaseUntil;
  const running = (attempt: number) => (row: TaskItem) =>
    row.status === TaskStatus.RUNNING && row.attempt === attempt;
  const store: TaskStore = {
    get: async (ref) => byId.get(ref.taskId),
    claim: (task, { at, leaseUntil }) =>
      apply('claim', task, asRead(task), {
        status: TaskStatus.RUNNING,
        attempt: task.attempt + 1,
        leaseUntil,
        startedAt: at,
      }),
    complete: (task, attempt, at, result) =>
      apply('complete', task, running(attempt), {
        status: TaskStatus.COMPLETED,
        finishedAt: at,
        ...(result === undefined ? {} : { result }),
      }),
    fail: (task, attempt, at, reason) =>
      apply('fail', task, attempt === null ? asRead(task) : running(attempt), {
        status: TaskStatus.FAILED,
        finishedAt: at,
        lastError: reason,
      }),
    expire: (task, at, cause) =>
      apply('expire', task, asRead(task), {
        status: TaskStatus.EXPIRED,
        finishedAt: at,
        ...(cause === undefined ? {} : { lastError: cause }),
      }),
    defer: (task, { runAt, reason }) =>
      apply('defer', task, asRead(task), {
        runAt,
        lastError: reason,
        generation: task.generation + 1,
      }),
    retry: (task, attempt, { runAt, reason }) => {
      const row = byId.get(task.taskId);
      return apply('retry', task, running(attempt), {
        status: TaskStatus.SCHEDULED,
        runAt,
        lastError: reason,
        generation: (row?.generation ?? 0) + 1,
        leaseUntil: undefined,
      });
    },
  };
  return { store, writes, row: (taskId: string) => byId.get(taskId)! };
}

const row = (taskId: string, overrides: Partial<TaskItem> = {}) =>
  taskItem({ taskId, ...overrides });

const batch = (tasks: TaskItem[]): SQSEvent => ({
  Records: tasks.map((t, i) => ({
    messageId: `m${i}`,
    body: JSON.stringify(timerMessage(t)),
  })) as SQSEvent['Records'],
});

/** A Lambda context whose remaining time the test sets. */
const lambdaWithRemaining = (remainingMs: () => number) =>
  ({ getRemainingTimeInMillis: remainingMs }) as unknown as Context;

const sqs = mockClient(SQSClient);
beforeEach(() => {
  sqs.reset();
  sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});

function setUp(tasks: TaskItem[], overrides: Partial<WorkerDeps> = {}) {
  const memory = memoryTaskStore(tasks);
  const telemetry = memoryTelemetry();
  const deps: WorkerDeps = {
    tasks: memory.store,
    clock: () => T0,
    sqs: new SQSClient({ region: 'us-east-1' }),
    queueUrl: 'https://sqs/render',
    telemetry: telemetry.telemetry,
    ...overrides,
  };
  return { ...memory, deps, logs: telemetry.logs };
}

describe('a worker batch', () => {
  const render = defineTaskType({ name: 'render', timeout: '60s' });

  it('runs its records concurrently, so five slow tasks take one task timeout, not five', async () => {
    const tasks = ['a', 'b', 'c', 'd', 'e'].map((id) => row(id));
    const { deps, row: rowOf } = setUp(tasks);
    let inFlight = 0;
    let most = 0;
    const handler = worker(
      render,
      async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 20));
        inFlight -= 1;
      },
      () => deps,
    );

    const response = await handler(
      batch(tasks),
      lambdaWithRemaining(() => 90_000),
    );

    expect(most).toBe(5);
    expect(response.batchItemFailures).toEqual([]);
    expect(tasks.map((t) => rowOf(t.taskId).status)).toEqual(Array(5).fill('COMPLETED'));
  });

  it('always runs one attempt, and hands back at once, unclaimed, the messages it has no time left for', async () => {
    const tasks = ['a', 'b', 'c'].map((id) => row(id));
    const { deps, row: rowOf } = setUp(tasks, { clock: () => T0 });
    const ran: string[] = [];
    const handler = worker(
      render,
      async (task) => {
        ran.push(task.taskId);
      },
      () => deps,
    );

    // 20 s left: less than the 60 s an attempt may take, so only the first may start (a
    // fresh invocation always has its task's timeout: the batch makes progress).
    const response = await handler(
      batch(tasks),
      lambdaWithRemaining(() => 20_000),
    );

    expect(ran).toEqual(['a']);
    expect(['b', 'c'].map((id) => rowOf(id).status)).toEqual(['SCHEDULED', 'SCHEDULED']);
    expect(['b', 'c'].map((id) => rowOf(id).attempt)).toEqual([0, 0]);
    // Sent again as new messages (no visibility timeout to wait, no receive counted toward
    // the DLQ), and reported as handled so SQS deletes the received copies.
    const sent = sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries!);
    expect(sent.map((e) => JSON.parse(e.MessageBody!).taskId)).toEqual(['b', 'c']);
    expect(sent.map((e) => e.DelaySeconds)).toEqual([0, 0]);
    expect(response.batchItemFailures).toEqual([]);
  });

  it('sends the early messages of a batch back with their delays in one request', async () => {
    // Due in 10, 20 and 30 minutes: each came early (its timer rode a first SQS delay).
    const tasks = [10, 20, 30].map((minutes, i) =>
      row(`early-${i}`, { runAt: T0 + minutes * 60_000 }),
    );
    const { deps, row: rowOf } = setUp(tasks);
    const handler = worker(
      render,
      async () => {
        throw new Error('an early message must not run');
      },
      () => deps,
    );

    const response = await handler(
      batch(tasks),
      lambdaWithRemaining(() => 90_000),
    );

    const calls = sqs.commandCalls(SendMessageBatchCommand);
    expect(calls).toHaveLength(1);
    const entries = calls[0]!.args[0].input.Entries!;
    expect(entries.map((e) => JSON.parse(e.MessageBody!).taskId)).toEqual([
      'early-0',
      'early-1',
      'early-2',
    ]);
    // SQS holds a message at most 900 s; the next arrival re-delays it again.
    expect(entries.map((e) => e.DelaySeconds)).toEqual([600, 900, 900]);
    expect(tasks.map((t) => rowOf(t.taskId).status)).toEqual(Array(3).fill('SCHEDULED'));
    expect(response.batchItemFailures).toEqual([]);
  });

  it('sends an early message back while a slow task of the same batch still runs', async () => {
    const tasks = [row('slow'), row('early', { runAt: T0 + 10 * 60_000 })];
    const { deps } = setUp(tasks);
    let sentWhileRunning = -1;
    const handler = worker(
      render,
      async () => {
        await new Promise((r) => setTimeout(r, 200));
        sentWhileRunning = sqs.commandCalls(SendMessageBatchCommand).length;
      },
      () => deps,
    );
    await handler(
      batch(tasks),
      lambdaWithRemaining(() => 90_000),
    );
    expect(sentWhileRunning).toBe(1);
  });

  it('reports an early message as a failure when it cannot be sent again, so it returns', async () => {
    sqs.on(SendMessageBatchCommand).rejects(new Error('throttled'));
    const tasks = [row('early', { runAt: T0 + 10 * 60_000 })];
    const { deps } = setUp(tasks);
    const handler = worker(
      render,
      async () => {},
      () => deps,
    );
    const response = await handler(
      batch(tasks),
      lambdaWithRemaining(() => 90_000),
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
  });

  it('reports a handed-back message as a failure when it cannot be sent again', async () => {
    sqs.on(SendMessageBatchCommand).rejects(new Error('throttled'));
    const tasks = [row('a'), row('b')];
    const { deps } = setUp(tasks);
    const handler = worker(
      render,
      async () => {},
      () => deps,
    );
    const response = await handler(
      batch(tasks),
      lambdaWithRemaining(() => 1_000),
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
  });

  it('runs a capped task type one record after another, claiming only while time is left', async () => {
    const capped = defineTaskType({ name: 'render', timeout: '60s', concurrency: 2 });
    const tasks = ['a', 'b', 'c'].map((id) => row(id));
    const { deps, row: rowOf } = setUp(tasks);
    let remaining = 130_000;
    let inFlight = 0;
    let most = 0;
    const handler = worker(
      capped,
      async () => {
        inFlight += 1;
        most = Math.max(most, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        remaining -= 60_000; // each attempt takes its whole timeout
        inFlight -= 1;
      },
      () => deps,
    );

    await handler(
      batch(tasks),
      lambdaWithRemaining(() => remaining),
    );

    expect(most).toBe(1);
    expect(tasks.map((t) => rowOf(t.taskId).status)).toEqual([
      'COMPLETED',
      'COMPLETED',
      'SCHEDULED',
    ]);
    const sent = sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries!);
    expect(sent.map((e) => JSON.parse(e.MessageBody!).taskId)).toEqual(['c']);
  });
});

describe('a capped task type whose handler ignores its signal', () => {
  it('starts nothing more while the handler runs on, and hands the rest back before waiting for it', async () => {
    const capped = defineTaskType({
      name: 'render',
      timeout: '2s',
      concurrency: 2,
      retry: { maxAttempts: 3 },
    });
    const tasks = ['a', 'b', 'c'].map((id) => row(id));
    const { deps, row: rowOf } = setUp(tasks, { timeScale: 20 });
    const started: string[] = [];
    let sentBeforeReturn = -1;
    const handler = worker(
      capped,
      async (task) => {
        started.push(task.taskId);
        await new Promise((r) => setTimeout(r, 400)); // ignores its signal
        sentBeforeReturn = sqs.commandCalls(SendMessageBatchCommand).length;
      },
      () => deps,
    );

    await handler(
      batch(tasks),
      lambdaWithRemaining(() => 90_000),
    );

    expect(started).toEqual(['a']);
    expect(rowOf('a').status).toBe('SCHEDULED'); // its retry, after the lease
    const sent = sqs.commandCalls(SendMessageBatchCommand).flatMap((c) => c.args[0].input.Entries!);
    expect(sent.map((e) => JSON.parse(e.MessageBody!).taskId)).toEqual(['b', 'c']);
    expect(sentBeforeReturn).toBe(1); // handed back while the handler still ran
  });
});

describe('idempotency across attempts', () => {
  it('gives every attempt of a task the same idempotency key, and the attempt apart', async () => {
    const render = defineTaskType({ name: 'render', timeout: '60s', retry: { maxAttempts: 3 } });
    // Attempt 1 claimed the task and its worker died: its lease ran out.
    const lost = row('a', { status: TaskStatus.RUNNING, attempt: 1, leaseUntil: T0 - 1 });
    const { deps } = setUp([lost]);
    const seen: { key: string; attempt: number }[] = [];
    const handler = worker(
      render,
      async (_task, ctx) => {
        seen.push({ key: ctx.idempotencyKey, attempt: ctx.attempt });
      },
      () => deps,
    );

    await handler(
      batch([lost]),
      lambdaWithRemaining(() => 90_000),
    );

    expect(seen).toEqual([{ key: 'a', attempt: 2 }]);
  });
});

describe('a handler that ignores its AbortSignal', () => {
  const quick = defineTaskType({
    name: 'render',
    timeout: '2s',
    retry: { maxAttempts: 3, backoff: 'fixed', initial: '1s' },
  });

  it('holds the invocation until it returns, and its retry until the lease has run out', async () => {
    const tasks = [row('a')];
    // 20× compressed time: the 2 s timeout passes in 100 ms of real time.
    const { deps, row: rowOf, logs } = setUp(tasks, { timeScale: 20 });
    let returned = false;
    const handler = worker(
      quick,
      async () => {
        // Never looks at ctx.signal: runs on for 300 ms of real time after its timeout.
        await new Promise((r) => setTimeout(r, 400));
        returned = true;
      },
      () => deps,
    );

    await handler(
      batch(tasks),
      lambdaWithRemaining(() => 90_000),
    );

    expect(returned).toBe(true);
    const retried = rowOf('a');
    expect(retried.status).toBe('SCHEDULED');
    expect(retried.lastError).toContain('TaskTimeoutError');
    // The retry may not start while the abandoned attempt could still be running.
    expect(retried.runAt).toBeGreaterThanOrEqual(leaseEnd(quick, T0));
    expect(logs.some((l) => l.level === 'warn' && /ignored its AbortSignal/.test(l.message))).toBe(
      true,
    );
  });
});

describe('errors thrown with a second copy of Hourglass', () => {
  const render = defineTaskType({ name: 'render', timeout: '60s', retry: { maxAttempts: 3 } });

  it('recognises NonRetryableError and RetryAfterError by their mark, not by instanceof', async () => {
    // A handler bundled with its own copy of the package: other classes, the same names.
    vi.resetModules();
    const copy = await import('../../shared/aws/errors');
    expect(new copy.NonRetryableError('x')).not.toBeInstanceOf(NonRetryableError);

    const { deps, row: rowOf } = setUp([row('a'), row('b')]);
    const handler = worker(
      render,
      async (task) => {
        if (task.taskId === 'a') throw new copy.NonRetryableError('no such user');
        throw new copy.RetryAfterError('rate limited', 45_000);
      },
      () => deps,
    );
    await handler(
      batch([row('a'), row('b')]),
      lambdaWithRemaining(() => 90_000),
    );

    expect(rowOf('a')).toMatchObject({ status: 'FAILED', attempt: 1 });
    expect(rowOf('b')).toMatchObject({ status: 'SCHEDULED', runAt: T0 + 45_000 });
  });
});

describe("a task type's total timeout (ScheduleToClose), retries included", () => {
  const notify = defineTaskType({
    name: 'render',
    timeout: '30s',
    totalTimeout: '1m',
    retry: { maxAttempts: 5, initial: '10s' },
  });
  const run = (tasks: TaskItem[], handler: () => Promise<void>, clock = () => T0) => {
    const memory = setUp(tasks, { clock, timeScale: 20 });
    const wrapped = worker(notify, handler, () => memory.deps);
    return {
      memory,
      done: wrapped(
        batch(tasks),
        lambdaWithRemaining(() => 90_000),
      ),
    };
  };

  it('fails a task that arrives after it, without running it', async () => {
    let ran = false;
    const { memory, done } = run(
      [row('late', { dueAt: T0 - 61_000, runAt: T0 - 61_000 })],
      async () => {
        ran = true;
      },
    );
    await done;
    expect(ran).toBe(false);
    expect(memory.row('late')).toMatchObject({
      status: 'FAILED',
      lastError: 'total timeout (ScheduleToClose) of 1m passed, retries included',
    });
  });

  it('fails instead of retrying when the next attempt would start after it', async () => {
    // Due 55 s ago: a retry 10 s from now would start at 65 s, past the minute.
    const { memory, done } = run([row('tired', { dueAt: T0 - 55_000, runAt: T0 })], async () => {
      throw new Error('carrier API down');
    });
    await done;
    expect(memory.row('tired')).toMatchObject({
      status: 'FAILED',
      attempt: 1,
      lastError:
        'Error: carrier API down; total timeout (ScheduleToClose) of 1m passed, retries included',
    });
  });

  it('cuts an attempt short at it, even inside its own timeout', async () => {
    // Due 59 s ago: one second left of the minute, though one attempt may take 30 s.
    const { memory, done } = run([row('slow', { dueAt: T0 - 59_000, runAt: T0 })], async () => {
      await new Promise((r) => setTimeout(r, 1_000));
    });
    await done;
    expect(memory.row('slow').status).toBe('FAILED');
    // Timed out at the minute (50 ms at 20×): with its own 30 s timeout (1.5 s at 20×) the
    // one-second handler would have completed.
    expect(memory.row('slow').lastError).toContain('TaskTimeoutError');
  });
});

describe("a handler's result", () => {
  const render = defineTaskType({ name: 'render', retry: { maxAttempts: 3 } });
  const runWith = async (handler: () => Promise<unknown>) => {
    const memory = setUp([row('r1')]);
    await worker(
      render,
      handler as never,
      () => memory.deps,
    )(
      batch([row('r1')]),
      lambdaWithRemaining(() => 90_000),
    );
    return memory;
  };

  it('is kept on the completed task', async () => {
    const memory = await runWith(async () => ({ code: 'WELCOME-7Q2' }));
    expect(memory.row('r1').status).toBe('COMPLETED');
    expect(memory.writes.at(-1)).toMatchObject({ op: 'complete', result: { code: 'WELCOME-7Q2' } });
  });

  it('over 4 KB fails the task at once, saying how big it was and what to do', async () => {
    const memory = await runWith(async () => ({ blob: 'x'.repeat(5_000) }));
    expect(memory.row('r1')).toMatchObject({
      status: 'FAILED',
      attempt: 1,
      lastError:
        'the handler returned a 5011-byte result; results are limited to 4096 bytes of JSON: store large data elsewhere and return a reference to it',
    });
  });

  it('that is not JSON fails the task, saying so', async () => {
    const memory = await runWith(async () => ({ big: 10n }));
    expect(memory.row('r1').status).toBe('FAILED');
    expect(memory.row('r1').lastError).toMatch(/^the handler returned a result that is not JSON/);
  });
});
