import type { StreamRecord } from '../shared/aws/messages';

function normalizeAttribute(value: unknown): unknown {
  const attribute = value as { M?: Record<string, unknown>; L?: unknown[] } | null;
  if (attribute === null || typeof attribute !== 'object') return value;
  if (Object.keys(attribute).length === 0) return { M: {} };
  if (attribute.M !== undefined) return { M: normalizeImage(attribute.M) };
  if (attribute.L !== undefined) return { L: attribute.L.map(normalizeAttribute) };
  return value;
}

function normalizeImage(image: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(image).map(([name, value]) => [name, normalizeAttribute(value)]),
  );
}

/**
 * Stream records as Lambda delivers them. The DynamoDB Streams SDK client, which the local
 * pollers read with, turns an empty map `{"M":{}}` into a bare `{}`; Lambda never does, so
 * the handlers (and unmarshall) expect the former.
 */
export function asLambdaRecords(records: readonly StreamRecord[]): StreamRecord[] {
  return records.map((record) => ({
    ...record,
    dynamodb: record.dynamodb && {
      ...record.dynamodb,
      ...(record.dynamodb.NewImage ? { NewImage: normalizeImage(record.dynamodb.NewImage) } : {}),
      ...(record.dynamodb.OldImage ? { OldImage: normalizeImage(record.dynamodb.OldImage) } : {}),
    },
  }));
}
