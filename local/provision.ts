import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ENV, taskQueueName } from '../shared/aws/config';
import {
  INGEST,
  MAX_RECEIVE_COUNT,
  visibilityTimeoutFor,
  workerTimeoutRange,
} from '../shared/aws/settings';
import type { HourglassDefinitions, TaskType } from '../shared/core/definitions';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './services';

/**
 * What the local cloud provisions, named and sized as the CDK construct deploys it: the
 * table's, bus's and schedule group's names, the queues with their DLQs and visibility
 * timeouts, and the environment the handlers read.
 */

/** The local table. */
export const TABLE = 'hourglass-local';
/** The local bus. */
export const BUS = 'hourglass-local';
/** The local Scheduler schedule group. */
export const GROUP = 'hourglass-local';
/** The local task queues' name prefix (see `taskQueueName`). */
export const TASK_QUEUE_PREFIX = 'hourglass-task-';
/** The local ingest queue. */
export const INGEST_QUEUE = 'hourglass-ingest';

/** A queue's URL and ARN. */
export interface LocalQueue {
  readonly url: string;
  readonly arn: string;
}

/** A worker's function timeout (s), as the construct deploys it by default. */
export const workerTimeoutSeconds = (type: TaskType) => workerTimeoutRange(type).max;

/** The queues of a local cloud. */
export interface LocalQueues {
  readonly ingest: { readonly queue: LocalQueue; readonly dlq: LocalQueue };
  readonly relayDlq: LocalQueue;
  readonly schedulerDlq: LocalQueue;
  /** The one DLQ of every task queue, as the construct deploys it. */
  readonly taskDlq: LocalQueue;
  readonly taskQueues: Readonly<Record<string, LocalQueue>>;
  /** Task queues follow the naming rule: their URL and ARN up to the task type. */
  readonly queuePrefixes: LocalQueue;
}

/** Creates the queues (idempotent: creating an existing queue returns it). */
export async function provisionQueues(
  sqs: SQSClient,
  definitions: HourglassDefinitions,
): Promise<LocalQueues> {
  const createQueue = async (name: string, attributes: Record<string, string> = {}) => {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: name, Attributes: attributes }),
    );
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    return { url: QueueUrl!, arn: Attributes!.QueueArn! };
  };
  const withDlq = async (name: string, visibility: number, dlq: LocalQueue) =>
    createQueue(name, {
      VisibilityTimeout: String(visibility),
      RedrivePolicy: JSON.stringify({
        deadLetterTargetArn: dlq.arn,
        maxReceiveCount: MAX_RECEIVE_COUNT,
      }),
    });
  const ingestDlq = await createQueue(`${INGEST_QUEUE}-dlq`);
  const ingest = {
    queue: await withDlq(INGEST_QUEUE, visibilityTimeoutFor(INGEST.timeoutSeconds), ingestDlq),
    dlq: ingestDlq,
  };
  const relayDlq = await createQueue('hourglass-relay-dlq');
  const schedulerDlq = await createQueue('hourglass-scheduler-dlq');
  const taskDlq = await createQueue('hourglass-tasks-dlq');
  const taskQueues: Record<string, LocalQueue> = {};
  for (const type of definitions.taskTypes) {
    taskQueues[type.name] = await withDlq(
      taskQueueName(TASK_QUEUE_PREFIX, type.name),
      visibilityTimeoutFor(workerTimeoutSeconds(type)),
      taskDlq,
    );
  }
  // Task queues' URLs and ARNs differ from the ingest queue's only in the name.
  const queuePrefixes = {
    url: ingest.queue.url.slice(0, -INGEST_QUEUE.length) + TASK_QUEUE_PREFIX,
    arn: ingest.queue.arn.slice(0, -INGEST_QUEUE.length) + TASK_QUEUE_PREFIX,
  };
  return { ingest, relayDlq, schedulerDlq, taskDlq, taskQueues, queuePrefixes };
}

/** The environment the handlers read at cold start, pointing at the local services. */
export function handlerEnvironment(
  endpoints: {
    readonly dynamodb: string;
    readonly sqs: string;
    readonly eventbridge: string;
    readonly scheduler: string;
  },
  queuePrefixes: { readonly url: string; readonly arn: string },
  schedulerDlqArn: string,
  timeScale: number,
  ingestQueue: { readonly url: string; readonly arn: string },
) {
  return {
    [ENV.ingestQueueUrl]: ingestQueue.url,
    [ENV.ingestQueueArn]: ingestQueue.arn,
    [ENV.timeScale]: String(timeScale),
    [ENV.tableName]: TABLE,
    [ENV.busName]: BUS,
    [ENV.outboxBusName]: BUS,
    [ENV.taskQueueUrlPrefix]: queuePrefixes.url,
    [ENV.taskQueueArnPrefix]: queuePrefixes.arn,
    [ENV.scheduleGroup]: GROUP,
    [ENV.schedulerRoleArn]: 'arn:aws:iam::000000000000:role/hourglass-local-scheduler',
    [ENV.schedulerDlqArn]: schedulerDlqArn,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_EVENTBRIDGE: endpoints.eventbridge,
    AWS_ENDPOINT_URL_SCHEDULER: endpoints.scheduler,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    POWERTOOLS_LOG_LEVEL: 'CRITICAL',
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_DEV: 'false',
  };
}
