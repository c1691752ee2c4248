import { createHash } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { getTask, type StoreDeps } from '../shared/aws/store';
import { dynamoTaskStore } from '../shared/aws/tasks';
import { leaseEnd, type TaskHandler } from '../shared/aws/worker';
import type { TaskType } from '../shared/core/definitions';
import type { Handler } from './runner';

/**
 * Fault injection for the local cloud's end-to-end fault tests: which faults, how they are
 * decided, and where they are injected (around the worker handlers the local cloud runs).
 * None of it is in the production code.
 */

/** Faults the local cloud can inject, for the end-to-end fault tests. All default to none. */
export interface Faults {
  /** Probability that an attempt of an example worker throws. */
  readonly workerErrorRate?: number;
  /** Probability that an attempt hangs past its timeout (aborted by the middleware). */
  readonly workerTimeoutRate?: number;
  /** Probability that a worker "crashes" right after claiming (the row stays RUNNING with a lease). */
  readonly crashAfterClaimRate?: number;
  /** Probability that a timer message is delivered twice. */
  readonly duplicateMessageRate?: number;
  /** Probability that a stream batch is delivered twice. */
  readonly duplicateStreamBatchRate?: number;
  /** Probability that a relay batch fails at its first record (and is retried). */
  readonly relayFailureRate?: number;
  /** Schedules fire this much late (virtual ms). */
  readonly schedulerLateByMs?: number;
  /** Task types whose workers are down in a window of virtual time. */
  readonly outages?: readonly {
    readonly taskType: string;
    readonly from: number;
    readonly to: number;
  }[];
  /** Fails chosen attempts: `(taskId, attempt) => true` makes that attempt throw. */
  readonly failAttempt?: (taskId: string, attempt: number) => boolean;
  /** Random source of the faults that cannot change an outcome (duplicates, relay failures). @default Math.random */
  readonly random?: () => number;
  /**
   * Makes the faults that can change an outcome (worker errors, hangs, crashes) a function
   * of this seed, the task and the attempt, not of the order in which work happens: the
   * same seed injects the same faults into the same attempts on a fast or a loaded machine.
   * @default a fresh seed per run
   */
  readonly seed?: number;
}

/** Decides (and records) whether one attempt of a task gets a fault of a kind. */
export type AttemptFault = (
  kind: string,
  taskId: string,
  attempt: number,
  probability: number | undefined,
) => boolean;

/** The faults of one local cloud run, and what was injected. */
export interface FaultInjector {
  readonly faults: Faults;
  /** True with probability p, from `faults.random`: for faults that cannot change an outcome. */
  readonly chance: (p: number | undefined) => boolean;
  /** Whether an attempt gets a fault, as a function of the seed, the task and the attempt. */
  readonly attemptFault: AttemptFault;
  /** The faults injected into each task's attempts, by task id. */
  readonly injected: ReadonlyMap<string, readonly string[]>;
  /** True when some fault is injected inside worker handlers (errors, hangs, chosen failures). */
  readonly inHandlers: boolean;
}

/** A number in [0, 1) that depends only on `text`. */
function unitHash(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;
}

/** The fault injector of a run. */
export function faultInjector(faults: Faults): FaultInjector {
  const random = faults.random ?? Math.random;
  const seed = faults.seed ?? Math.floor(Math.random() * 2 ** 32);
  const injected = new Map<string, string[]>();
  return {
    faults,
    chance: (p) => (p ?? 0) > 0 && random() < p!,
    attemptFault: (kind, taskId, attempt, p) => {
      if (!((p ?? 0) > 0) || unitHash(`${seed}:${kind}:${taskId}:${attempt}`) >= p!) return false;
      injected.set(taskId, [...(injected.get(taskId) ?? []), `${kind} on attempt ${attempt}`]);
      return true;
    },
    injected,
    inHandlers:
      (faults.workerErrorRate ?? 0) > 0 ||
      (faults.workerTimeoutRate ?? 0) > 0 ||
      faults.failAttempt !== undefined,
  };
}

/**
 * Wraps a worker's business logic with the faults of an attempt, run before it: a chosen
 * failure, a random error, or a hang that waits for the attempt's abort signal (so the
 * middleware's timeout ends it, as it would a slow call that honours its signal).
 */
export function handlerWithFaults(run: TaskHandler, injector: FaultInjector): TaskHandler {
  const { faults, attemptFault } = injector;
  const injected = injector.injected as Map<string, string[]>;
  return async (task, ctx) => {
    if (faults.failAttempt?.(task.taskId, ctx.attempt)) {
      injected.set(task.taskId, [
        ...(injected.get(task.taskId) ?? []),
        `failure of attempt ${ctx.attempt}`,
      ]);
      throw new Error(`injected failure of attempt ${ctx.attempt}`);
    }
    if (attemptFault('error', task.taskId, ctx.attempt, faults.workerErrorRate))
      throw new Error('injected worker error');
    if (attemptFault('hang', task.taskId, ctx.attempt, faults.workerTimeoutRate)) {
      await new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
      throw new Error('injected hang, aborted');
    }
    return run(task, ctx);
  };
}

/**
 * Wraps a real worker handler with the queue-side faults: duplicated timer messages, and
 * crashes right after claiming (the task is claimed exactly as the middleware would, then
 * the "process dies": the message is not deleted and the lease must run out).
 */
export function workerWithFaults(
  taskType: TaskType,
  real: Handler,
  ctx: {
    readonly sqs: SQSClient;
    readonly queueUrl: string;
    readonly storeDeps: StoreDeps;
    readonly injector: FaultInjector;
  },
): Handler {
  const { faults, chance, attemptFault } = ctx.injector;
  return async (event, context) => {
    const records = (event as { Records: { messageId: string; body: string }[] }).Records;
    const crashed: string[] = [];
    const kept = [];
    for (const record of records) {
      if (chance(faults.duplicateMessageRate)) {
        await ctx.sqs.send(
          new SendMessageCommand({ QueueUrl: ctx.queueUrl, MessageBody: record.body }),
        );
      }
      if ((faults.crashAfterClaimRate ?? 0) > 0) {
        try {
          const message = JSON.parse(record.body);
          const task = await getTask(ctx.storeDeps, message);
          const now = Date.now();
          if (
            task &&
            task.status === 'SCHEDULED' &&
            task.generation === message.generation &&
            task.runAt <= now &&
            attemptFault('crash', task.taskId, task.attempt + 1, faults.crashAfterClaimRate)
          ) {
            if (
              await dynamoTaskStore(ctx.storeDeps).claim(task, {
                at: now,
                leaseUntil: leaseEnd(taskType, now),
              })
            ) {
              crashed.push(record.messageId);
              continue;
            }
          }
        } catch {
          // not a timer message: let the real handler report it
        }
      }
      kept.push(record);
    }
    const response =
      kept.length > 0
        ? await real({ ...(event as object), Records: kept } as never, context)
        : { batchItemFailures: [] };
    return {
      batchItemFailures: [
        ...(response?.batchItemFailures ?? []),
        ...crashed.map((itemIdentifier) => ({ itemIdentifier })),
      ],
    };
  };
}
