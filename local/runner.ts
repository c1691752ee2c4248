import { randomUUID } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';

/** A Lambda handler as the runner calls it. */
export type Handler = (
  event: never,
  context: Context,
) => Promise<{ batchItemFailures?: { itemIdentifier: string }[] } | undefined>;

/** A Lambda-like context: request id, function name, remaining time. */
export function lambdaContext(functionName: string, timeoutMs: number): Context {
  const deadline = performance.now() + timeoutMs;
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/${requestId}`,
    getRemainingTimeInMillis: () => Math.max(0, Math.round(deadline - performance.now())),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What Lambda reports when an invocation reaches its function timeout. */
export class FunctionTimeoutError extends Error {
  constructor(functionName: string, timeoutMs: number) {
    super(`${functionName}: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`);
    this.name = 'FunctionTimeoutError';
  }
}

/**
 * Ends an invocation at its function timeout, as Lambda does: the invocation fails as a
 * whole, whatever the handler would have returned. AWS: "If the invocation fails or times
 * out, every message in the batch will be returned to the queue, and each will be available
 * for processing once the Visibility Timeout period expires" (Lambda Developer Guide). The
 * handler's promise cannot be stopped in-process; Lambda would reset the environment.
 */
export async function withFunctionTimeout<T>(
  functionName: string,
  timeoutMs: number,
  invocation: Promise<T>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FunctionTimeoutError(functionName, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([invocation, killed]);
  } finally {
    clearTimeout(timer);
  }
}

/** Something the runner polls; the local cloud asks it whether it is idle. */
export interface Poller {
  readonly name: string;
  /** What this mapping and its function did: the figures AWS bills. */
  readonly usage: FunctionUsage;
  /**
   * True when, since real time `since` (performance.now), the poller has run no handler
   * and has completed a poll that started after `since` and found nothing: so nothing that
   * was waiting at `since` is still waiting.
   */
  quietSince(since: number): boolean;
  stop(): Promise<void>;
}

/**
 * What one event source mapping and its function did, counted as AWS bills them: function
 * invocations and handler time, and (for a queue) the non-empty receives and the deletes
 * the mapping made. Empty receives are left out: the mapping's long polling costs the same
 * whatever the traffic.
 */
export interface FunctionUsage {
  invocations: number;
  records: number;
  /** Real ms spent in the handler, summed over invocations. */
  handlerMs: number;
  receives: number;
  deletes: number;
}

export const newUsage = (): FunctionUsage => ({
  invocations: 0,
  records: 0,
  handlerMs: 0,
  receives: 0,
  deletes: 0,
});

/** Options of {@link pollQueue}, mirroring an SQS event source mapping. */
export interface QueueSourceOptions {
  readonly name: string;
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly handler: Handler;
  /** @default 10 */
  readonly batchSize?: number;
  /** Seconds a received message stays invisible (the queue's visibility timeout). */
  readonly visibilityTimeoutSeconds: number;
  readonly timeoutMs: number;
  /** Real ms between empty polls. @default 20 */
  readonly intervalMs?: number;
  /** Most batches in flight at once (maximum concurrency). @default 1 */
  readonly concurrency?: number;
  /**
   * Real ms the mapping gathers messages before it invokes with fewer than `batchSize`
   * (the mapping's `MaximumBatchingWindowInSeconds`, scaled to the local clock). @default 0
   */
  readonly batchingWindowMs?: number;
  /** While this returns true the source does not poll (workers "down"). */
  readonly paused?: () => boolean;
  /**
   * When given and false, a receive would come back empty, so the poll is skipped and
   * counts as an empty one. An in-process emulator can tell without a request; without
   * this, an idle local cloud spends a CPU core on empty polls.
   */
  readonly receivable?: () => boolean;
  readonly onError?: (error: unknown) => void;
}

function toRecord(
  message: {
    MessageId?: string;
    ReceiptHandle?: string;
    Body?: string;
    MD5OfBody?: string;
    Attributes?: Record<string, string>;
  },
  queueArn: string,
): SQSRecord {
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? '1',
      SentTimestamp: message.Attributes?.SentTimestamp ?? String(Date.now()),
      SenderId: message.Attributes?.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp:
        message.Attributes?.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      // A tenant's message group (a task type's `tenant`), as Lambda passes it on.
      ...(message.Attributes?.MessageGroupId === undefined
        ? {}
        : { MessageGroupId: message.Attributes.MessageGroupId }),
    },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  };
}

/**
 * Polls a queue like an SQS event source mapping: receives up to `batchSize` messages with
 * the visibility timeout, calls the handler with a real SQSEvent, deletes the messages it
 * did not report as failures, and leaves the rest to reappear (and to be redriven to the
 * DLQ by the queue's redrive policy after max receives). A handler that throws fails the
 * whole batch, as in Lambda.
 */
export function pollQueue(options: QueueSourceOptions): Poller {
  let running = true;
  let working = 0;
  let lastWorkEnded = 0;
  let lastEmptyPollStarted = -1;
  let lastEmpty = false;
  const usage = newUsage();
  const loops = Array.from({ length: options.concurrency ?? 1 }, async () => {
    while (running) {
      if (options.paused?.() || options.receivable?.() === false) {
        lastEmptyPollStarted = performance.now();
        await sleep(options.intervalMs ?? 20);
        continue;
      }
      try {
        await receiveAndHandle();
      } catch (error) {
        options.onError?.(error);
        await sleep(options.intervalMs ?? 20);
      }
      if (lastEmpty) await sleep(options.intervalMs ?? 20);
    }
  });

  async function receiveAndHandle(): Promise<void> {
    const pollStarted = performance.now();
    // Busy from the moment the receive is sent: the emulator may already have taken a
    // message in flight before the answer comes back.
    working += 1;
    try {
      const { Messages } = await options.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: options.batchSize ?? 10,
          VisibilityTimeout: options.visibilityTimeoutSeconds,
          WaitTimeSeconds: 0,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      if (!Messages || Messages.length === 0) {
        lastEmpty = true;
        lastEmptyPollStarted = pollStarted;
        return;
      }
      lastEmpty = false;
      usage.receives += 1;
      await gatherWindow(options, Messages, usage);
      try {
        await deliverBatch(options, Messages, usage);
      } finally {
        lastWorkEnded = performance.now();
      }
    } finally {
      working -= 1;
    }
  }

  return {
    name: options.name,
    usage,
    quietSince: (since) => working === 0 && lastWorkEnded <= since && lastEmptyPollStarted > since,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/**
 * Keeps receiving into `messages` until the batch is full or the batching window has run
 * out, as a mapping with a window does: "Lambda continues to poll messages from the queue
 * until the batch size, the batching window, or the 6 MB payload quota is reached" (AWS
 * Lambda, "Batching behavior" for SQS event sources).
 */
async function gatherWindow(
  options: QueueSourceOptions,
  messages: Message[],
  usage: FunctionUsage,
): Promise<void> {
  const windowMs = options.batchingWindowMs ?? 0;
  const batchSize = options.batchSize ?? 10;
  const started = performance.now();
  while (messages.length < batchSize && performance.now() - started < windowMs) {
    await sleep(Math.min(options.intervalMs ?? 20, windowMs - (performance.now() - started)));
    if (options.receivable?.() === false) continue;
    const { Messages } = await options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: options.queueUrl,
        MaxNumberOfMessages: batchSize - messages.length,
        VisibilityTimeout: options.visibilityTimeoutSeconds,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (Messages && Messages.length > 0) {
      usage.receives += 1;
      messages.push(...Messages);
    }
  }
}

/**
 * Calls the handler with one batch and deletes the messages it did not report as failures;
 * a handler that throws or runs past its timeout fails the whole batch, as in Lambda.
 */
async function deliverBatch(
  options: QueueSourceOptions,
  Messages: Message[],
  usage: FunctionUsage,
): Promise<void> {
  const event: SQSEvent = { Records: Messages.map((m) => toRecord(m, options.queueArn)) };
  let failed = new Set<string>();
  const started = performance.now();
  usage.invocations += 1;
  usage.records += Messages.length;
  try {
    const response = await withFunctionTimeout(
      options.name,
      options.timeoutMs,
      options.handler(event as never, lambdaContext(options.name, options.timeoutMs)),
    );
    failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
  } catch (error) {
    options.onError?.(error);
    failed = new Set(event.Records.map((r) => r.messageId));
  } finally {
    usage.handlerMs += performance.now() - started;
  }
  const done = Messages.filter((m) => !failed.has(m.MessageId!));
  if (done.length > 0) {
    usage.deletes += 1;
    await options.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: options.queueUrl,
        Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
}
