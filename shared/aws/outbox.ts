import type { EventBridgeClient, PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import { publishInBatches, type StreamRecord, streamImage } from './messages';
import type { Telemetry } from './telemetry';

/**
 * The attribute that marks a producer's item as an outbox event. Write it in the same
 * transaction as your business change; the outbox publishes it once the write commits.
 *
 * @example
 * { PK: 'ORDER#o1', SK: 'EVENT#e1', outboxEvent: { source: 'shop', detailType: 'OrderPlaced', detail: { … } } }
 */
export const OUTBOX_ATTRIBUTE = 'outboxEvent';

/** The shape of {@link OUTBOX_ATTRIBUTE}. */
export interface OutboxEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
  /** ISO-8601 event time. @default when the item was written */
  readonly time?: string;
}

/** What the outbox needs. */
export interface OutboxDeps {
  readonly eventBridge: EventBridgeClient;
  readonly busName: string;
  readonly telemetry: Telemetry;
}

/**
 * Publishes outbox events from a producer table's stream to EventBridge: every newly
 * inserted item carrying {@link OUTBOX_ATTRIBUTE}. Items without it, and updates and
 * deletes, are ignored. A malformed outbox attribute is logged and skipped (the item stays
 * in the table for inspection); a PutEvents failure reports the record for a retry.
 */
export async function outboxBatch(deps: OutboxDeps, records: readonly StreamRecord[]) {
  const entries: { entry: PutEventsRequestEntry; index: number }[] = [];
  for (const [index, record] of records.entries()) {
    if (record.eventName !== 'INSERT' || record.dynamodb?.NewImage === undefined) continue;
    const item = streamImage<Record<string, unknown>>(record.dynamodb.NewImage)!;
    const event = item[OUTBOX_ATTRIBUTE] as OutboxEvent | undefined;
    if (event === undefined) continue;
    if (
      typeof event.source !== 'string' ||
      typeof event.detailType !== 'string' ||
      typeof event.detail !== 'object' ||
      event.detail === null
    ) {
      deps.telemetry.error(
        `${OUTBOX_ATTRIBUTE} must have source, detailType and an object detail; not published`,
        { sequence: record.dynamodb.SequenceNumber },
      );
      continue;
    }
    entries.push({
      index,
      entry: {
        Source: event.source,
        DetailType: event.detailType,
        Detail: JSON.stringify(event.detail),
        EventBusName: deps.busName,
        ...(event.time ? { Time: new Date(event.time) } : {}),
      },
    });
  }
  const failedAt = await publishInBatches(
    deps.eventBridge,
    entries,
    records.length,
    deps.telemetry,
  );
  if (failedAt >= records.length) return { batchItemFailures: [] };
  return {
    batchItemFailures: [
      { itemIdentifier: records[failedAt]?.dynamodb?.SequenceNumber ?? String(failedAt) },
    ],
  };
}
