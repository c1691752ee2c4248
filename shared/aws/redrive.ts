import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { HourglassError } from '../core/errors';
import { taskQueueName } from './config';
import { parseTaskMessage } from './messages';

/**
 * Moving a dead-letter queue's messages back to where they came from (`hourglass
 * redrive`): the ingest DLQ's to the ingest queue, the task DLQ's each to its task type's
 * queue (read from the timer message). A message is deleted from the DLQ only after it was
 * sent again, so a redrive that stops halfway loses nothing and can be run again; a
 * message sent but not yet deleted arrives twice, which ingest (events de-duplicated by id)
 * and the workers (a finished or stale timer is skipped) both take.
 */

/** Where each dead-letter queue's messages go back to, by URL. */
export interface RedriveRoutes {
  readonly ingest: { readonly dlqUrl: string; readonly queueUrl: string };
  /** The task DLQ, and the URL prefix every task queue's URL is this plus `<task type>`. */
  readonly tasks: { readonly dlqUrl: string; readonly queueUrlPrefix: string };
}

/** The queues of a deployment that `redrive` moves between, and the client to reach them. */
export interface RedriveQueues extends RedriveRoutes {
  readonly sqs: SQSClient;
}

/** Which dead-letter queue to redrive. */
export type RedriveSource = 'ingest' | 'tasks';

/** What a redrive did (or, dry, would do). */
export interface RedriveReport {
  readonly source: RedriveSource;
  /** The DLQ's approximate depth before moving. */
  readonly waiting: number;
  readonly moved: number;
  /** Messages left in the DLQ because no queue could be told for them (not a timer message). */
  readonly left: number;
  /** Where they went, by destination queue URL. */
  readonly byDestination: Readonly<Record<string, number>>;
}

/** How long a received DLQ message stays hidden while it is being moved. */
const MOVE_VISIBILITY_SECONDS = 60;

/** The approximate number of messages waiting in a queue. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages'],
    }),
  );
  return Number(Attributes?.ApproximateNumberOfMessages ?? 0);
}

/**
 * Moves up to `limit` messages of a DLQ back (all with no limit), reporting progress after
 * each batch. `dryRun` only counts what waits. Messages it cannot place stay in the DLQ,
 * counted as `left`, and become visible again after {@link MOVE_VISIBILITY_SECONDS}.
 */
export async function redrive(
  queues: RedriveQueues,
  source: RedriveSource,
  options: {
    readonly dryRun?: boolean;
    readonly limit?: number;
    readonly onProgress?: (moved: number, waiting: number) => void;
  } = {},
): Promise<RedriveReport> {
  const { sqs } = queues;
  const dlqUrl = source === 'ingest' ? queues.ingest.dlqUrl : queues.tasks.dlqUrl;
  const waiting = await queueDepth(sqs, dlqUrl);
  const byDestination: Record<string, number> = {};
  if (options.dryRun) return { source, waiting, moved: 0, left: 0, byDestination };
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const destinationOf = (message: Message): string | null => {
    if (source === 'ingest') return queues.ingest.queueUrl;
    const timer = parseTaskMessage(message.Body ?? '');
    return timer === null ? null : queues.tasks.queueUrlPrefix + taskQueueName('', timer.taskType);
  };
  let moved = 0;
  let left = 0;
  while (moved + left < limit) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: dlqUrl,
        MaxNumberOfMessages: Math.min(10, limit - moved - left),
        VisibilityTimeout: MOVE_VISIBILITY_SECONDS,
        WaitTimeSeconds: 1,
      }),
    );
    if (Messages.length === 0) break;
    const groups = new Map<string, Message[]>();
    for (const message of Messages) {
      const destination = destinationOf(message);
      if (destination === null) left += 1;
      else groups.set(destination, [...(groups.get(destination) ?? []), message]);
    }
    for (const [destination, group] of groups) {
      const sent = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: destination,
          Entries: group.map((m, i) => ({ Id: String(i), MessageBody: m.Body ?? '' })),
        }),
      );
      const done = (sent.Successful ?? []).map((s) => group[Number(s.Id)]!);
      if (done.length > 0) {
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: dlqUrl,
            Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
          }),
        );
      }
      if ((sent.Failed ?? []).length > 0) {
        throw new HourglassError(
          `sending to ${destination} failed for ${(sent.Failed ?? []).length} message(s) (${sent.Failed![0]!.Code}); they stay in the DLQ: run redrive again`,
        );
      }
      moved += done.length;
      byDestination[destination] = (byDestination[destination] ?? 0) + done.length;
    }
    options.onProgress?.(moved, waiting);
  }
  return { source, waiting, moved, left, byDestination };
}
