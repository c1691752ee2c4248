import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ENV } from '../shared/aws/config';
import { OUTBOX_ATTRIBUTE } from '../shared/aws/outbox';
import { bundled } from './function';
import { suppressDeadLetterQueueFindings } from './nag';
import { addStreamSource } from './stream-source';

/** Props of {@link Outbox}. */
export interface OutboxProps {
  /** The producer's table; its stream must include new images. */
  readonly table: dynamodb.ITable;
  /** Where the events go. */
  readonly bus: events.IEventBus;
}

/**
 * The transactional outbox for producers that keep their data in DynamoDB: items inserted
 * with an `outboxEvent` attribute (in the same transaction as the business change) are
 * published to the bus from the table's stream.
 *
 * @example new Outbox(this, 'OrdersOutbox', { table: ordersTable, bus: hourglass.bus });
 */
export class Outbox extends Construct {
  readonly function: NodejsFunction;
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: OutboxProps) {
    super(scope, id);
    if (props?.table?.tableStreamArn === undefined) {
      throw new Error(
        `Outbox '${id}': props.table must have a stream (stream: StreamViewType.NEW_IMAGE or NEW_AND_OLD_IMAGES)`,
      );
    }
    if (props.bus === undefined) throw new Error(`Outbox '${id}': props.bus is required`);
    this.deadLetterQueue = new sqs.Queue(this, 'DLQ', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.function = bundled(
      this,
      'Function',
      join(dirname(fileURLToPath(import.meta.url)), '../functions/outbox.ts'),
      {
        timeout: Duration.seconds(30),
        environment: { [ENV.outboxBusName]: props.bus.eventBusName },
      },
    );
    addStreamSource(this.function, {
      tableArn: props.table.tableArn,
      streamArn: props.table.tableStreamArn,
      onFailure: this.deadLetterQueue,
      filters: [
        lambda.FilterCriteria.filter({
          eventName: lambda.FilterRule.isEqual('INSERT'),
          dynamodb: { NewImage: { [OUTBOX_ATTRIBUTE]: { M: lambda.FilterRule.exists() } } },
        }),
      ],
    });
    props.bus.grantPutEventsTo(this.function);
    suppressDeadLetterQueueFindings(
      [this.deadLetterQueue],
      "the outbox stream mapping's on-failure destination",
    );
  }
}
