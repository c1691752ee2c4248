import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { defaultIngestDeps, ingestBatch } from '../shared/aws';
import definitions from '../workflows';

const deps = defaultIngestDeps(definitions);

/** The ingest queue's consumer: EventBridge events in, decisions committed to the table. */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const result = await ingestBatch(
    deps,
    event.Records.map((r) => ({ messageId: r.messageId, body: r.body })),
  );
  deps.telemetry.flush();
  return { batchItemFailures: result.batchItemFailures };
}
