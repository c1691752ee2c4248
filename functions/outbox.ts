import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { outboxBatch, powertoolsTelemetry, runtime, type StreamRecord } from '../shared/aws';

const { config, clients } = runtime();
const deps = {
  eventBridge: clients.eventBridge,
  busName: config.outboxBusName,
  telemetry: powertoolsTelemetry('hourglass-outbox'),
};

/** A producer table's stream consumer: items marked as outbox events are published. */
export async function handler(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const result = await outboxBatch(deps, event.Records as StreamRecord[]);
  deps.telemetry.flush();
  return result;
}
