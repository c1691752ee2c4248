import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-dynamodb-streams';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
} from '@aws-sdk/client-sqs';
import {
  createHourglassTable,
  LOCAL_REGION,
  type LocalService,
  localClients,
  startDynamoDbLocal,
  startSqsLocal,
} from '../../local/services';
import { asLambdaRecords } from '../../local/stream-records';
import type { StreamRecord, TaskQueue } from '../../shared/aws';

/** DynamoDB Local and fauxqs, started once per test file on free loopback ports. */
export interface LocalAws {
  readonly dynamoEndpoint: string;
  readonly sqsEndpoint: string;
  stop(): Promise<void>;
}

export async function startLocalAws(): Promise<LocalAws> {
  const services: LocalService[] = [];
  try {
    services.push(await startDynamoDbLocal());
    services.push(await startSqsLocal());
  } catch (error) {
    await Promise.all(services.map((s) => s.stop()));
    throw error;
  }
  return {
    dynamoEndpoint: services[0]!.endpoint,
    sqsEndpoint: services[1]!.endpoint,
    stop: async () => void (await Promise.all(services.map((s) => s.stop()))),
  };
}

let tables = 0;

/** A fresh table and one queue per task type, with clients that talk to them. */
export async function freshWorld(aws: LocalAws, taskTypes: readonly string[]) {
  const tableName = `hourglass-test-${process.pid}-${++tables}`;
  await createHourglassTable(aws.dynamoEndpoint, tableName);
  const { dynamoBase, dynamo, sqs, streams } = localClients({
    dynamodb: aws.dynamoEndpoint,
    sqs: aws.sqsEndpoint,
  });
  const queues: Record<string, TaskQueue> = {};
  for (const type of taskTypes) {
    const { QueueUrl } = await sqs.send(
      new CreateQueueCommand({ QueueName: `${tableName}-${type}` }),
    );
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
    );
    queues[type] = {
      url: QueueUrl!,
      arn: Attributes?.QueueArn ?? `arn:aws:sqs:${LOCAL_REGION}:000000000000:${type}`,
    };
  }
  const { Table } = await dynamoBase.send(new DescribeTableCommand({ TableName: tableName }));
  const streamArn = Table!.LatestStreamArn!;
  const iterators = new Map<string, string | undefined>();

  /** Every stream record written since the last call, in order, as Lambda would deliver them. */
  async function readStream(): Promise<StreamRecord[]> {
    const { StreamDescription } = await streams.send(
      new DescribeStreamCommand({ StreamArn: streamArn }),
    );
    const records: StreamRecord[] = [];
    for (const shard of StreamDescription?.Shards ?? []) {
      const id = shard.ShardId!;
      if (!iterators.has(id)) {
        const { ShardIterator } = await streams.send(
          new GetShardIteratorCommand({
            StreamArn: streamArn,
            ShardId: id,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        );
        iterators.set(id, ShardIterator);
      }
      let iterator = iterators.get(id);
      while (iterator) {
        const page = await streams.send(new GetRecordsCommand({ ShardIterator: iterator }));
        records.push(...asLambdaRecords((page.Records ?? []) as StreamRecord[]));
        iterator = page.NextShardIterator;
        iterators.set(id, iterator);
        if ((page.Records ?? []).length === 0) break;
      }
    }
    return records;
  }

  /** Takes every visible message off a task type's queue. */
  async function receive(taskType: string) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queues[taskType]!.url,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 60,
      }),
    );
    return Messages ?? [];
  }

  return { tableName, dynamo, sqs, queues, readStream, receive };
}
