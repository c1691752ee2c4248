import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { RELAY } from '../shared/aws/settings';

/** Options of {@link addStreamSource}. */
export interface StreamSourceOptions {
  readonly tableArn: string;
  readonly streamArn: string;
  readonly onFailure: sqs.IQueue;
  readonly filters: Record<string, unknown>[];
}

/**
 * Connects a function to a table stream with partial batch responses, bisect on error, a
 * retry cap and an on-failure destination. Stream reads are granted on this table's streams
 * only; ListStreams, which has no resource type, on "*".
 */
export function addStreamSource(
  fn: lambda.Function,
  options: StreamSourceOptions,
): lambda.EventSourceMapping {
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
      resources: [`${options.tableArn}/stream/*`],
    }),
  );
  // ListStreams takes no resource type: IAM grants it only on "*" (AWS's own
  // AWSLambdaDynamoDBExecutionRole policy does the same). Scoped to a stream ARN, the grant
  // never matches and the mapping may be refused at deploy time.
  fn.addToRolePolicy(
    new iam.PolicyStatement({ actions: ['dynamodb:ListStreams'], resources: ['*'] }),
  );
  const destination = new SqsDlq(options.onFailure);
  return fn.addEventSourceMapping('TableStream', {
    eventSourceArn: options.streamArn,
    startingPosition: lambda.StartingPosition.TRIM_HORIZON,
    batchSize: RELAY.batchSize,
    maxBatchingWindow: Duration.seconds(RELAY.batchingWindowSeconds),
    bisectBatchOnError: true,
    retryAttempts: RELAY.retryAttempts,
    reportBatchItemFailures: true,
    onFailure: destination,
    filters: options.filters,
  });
}
