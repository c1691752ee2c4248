import type { DynamoDBBatchResponse, DynamoDBStreamEvent } from 'aws-lambda';
import { defaultRelayDeps, relayBatch, type StreamRecord } from '../shared/aws';

const deps = defaultRelayDeps();

/** The table stream's consumer: timers armed and disarmed, lifecycle events published. */
export async function handler(event: DynamoDBStreamEvent): Promise<DynamoDBBatchResponse> {
  const result = await relayBatch(deps, event.Records as StreamRecord[]);
  deps.telemetry.flush();
  return result;
}
