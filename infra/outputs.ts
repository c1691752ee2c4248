import { CfnOutput } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { OUTPUT_KEYS } from '../shared/aws/settings';

/** Adds {@link OUTPUT_KEYS} to the construct's stack. */
export function addOperatorOutputs(
  scope: Construct,
  parts: {
    readonly table: dynamodb.ITable;
    readonly bus: events.IEventBus;
    readonly ingestDlq: sqs.IQueue;
    readonly taskDlq: sqs.IQueue;
    readonly ingestQueue: sqs.IQueue;
    readonly taskQueueUrlPrefix: string;
  },
): void {
  const output = (key: string, value: string, description: string) => {
    const out = new CfnOutput(scope, key, { value, description });
    // A fixed key, not a hashed path: the operator tools look it up by name.
    out.overrideLogicalId(key);
  };
  output(OUTPUT_KEYS.tableName, parts.table.tableName, 'Hourglass: the table');
  output(OUTPUT_KEYS.busName, parts.bus.eventBusName, 'Hourglass: the event bus');
  output(OUTPUT_KEYS.ingestDlqUrl, parts.ingestDlq.queueUrl, 'Hourglass: the ingest DLQ');
  output(OUTPUT_KEYS.taskDlqUrl, parts.taskDlq.queueUrl, "Hourglass: the task types' DLQ");
  output(OUTPUT_KEYS.ingestQueueUrl, parts.ingestQueue.queueUrl, 'Hourglass: the ingest queue');
  output(
    OUTPUT_KEYS.taskQueueUrlPrefix,
    parts.taskQueueUrlPrefix,
    "Hourglass: every task queue's URL is this plus its task type",
  );
}
