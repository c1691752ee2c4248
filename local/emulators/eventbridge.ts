import { randomUUID } from 'node:crypto';
import type { EventPattern } from '../../shared/core/patterns';
import { type Emulator, serve } from './http';

/** An event as a rule target receives it (the EventBridge envelope). */
export interface BusEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: string[];
  readonly detail: unknown;
}

/** A rule: a pattern and where matching events go. */
export interface BusRule {
  readonly name: string;
  readonly pattern: EventPattern;
  readonly deliver: (event: BusEvent) => Promise<void>;
}

const MAX_ENTRY_BYTES = 256 * 1024;
const ACCOUNT = '000000000000';

/** Whether an event matches a pattern: exact values for source, detail-type and top-level detail fields. */
export function matches(pattern: EventPattern, event: BusEvent): boolean {
  if (!pattern.source.includes(event.source)) return false;
  if (!pattern['detail-type'].includes(event['detail-type'])) return false;
  for (const [field, values] of Object.entries(pattern.detail ?? {})) {
    const value = (event.detail as Record<string, unknown> | null)?.[field];
    if (!values.includes(value as string)) return false;
  }
  return true;
}

/**
 * EventBridge `PutEvents` over the real wire protocol (AWS JSON 1.1), with the rules the
 * stack defines delivering matching events to their targets. Other operations answer
 * UnknownOperationException. Every accepted event is also handed to `onEvent`.
 */
export async function startEventBridge(options: {
  readonly rules: () => readonly BusRule[];
  readonly busName: string;
  readonly region: string;
  readonly onEvent?: (event: BusEvent) => void;
  readonly port?: number;
}): Promise<Emulator> {
  const error = (type: string, message: string) => ({
    status: 400,
    body: { __type: type, message },
  });
  return serve(async (request) => {
    const target = String(request.headers['x-amz-target'] ?? '');
    if (target !== 'AWSEvents.PutEvents')
      return error(
        'UnknownOperationException',
        `the local EventBridge supports PutEvents only, not ${target}`,
      );
    const input = JSON.parse(request.body || '{}') as { Entries?: Record<string, unknown>[] };
    const entries = input.Entries ?? [];
    if (entries.length === 0 || entries.length > 10)
      return error(
        'ValidationException',
        `Entries must hold 1 to 10 entries, got ${entries.length}`,
      );
    const results: Record<string, string>[] = [];
    for (const entry of entries) {
      const event = toBusEvent(entry, options);
      if ('ErrorCode' in event) {
        results.push(event);
        continue;
      }
      options.onEvent?.(event);
      await Promise.all(
        options
          .rules()
          .filter((rule) => matches(rule.pattern, event))
          .map((rule) => rule.deliver(event)),
      );
      results.push({ EventId: event.id });
    }
    return {
      status: 200,
      body: { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results },
    };
  }, options.port);
}

/** The event EventBridge makes of a PutEvents entry, or the entry's error, as the service reports it. */
function toBusEvent(
  entry: Record<string, unknown>,
  options: { readonly busName: string; readonly region: string },
): BusEvent | { ErrorCode: string; ErrorMessage: string } {
  const bus = (entry.EventBusName as string | undefined) ?? 'default';
  if (bus !== options.busName && !bus.endsWith(`/${options.busName}`)) {
    return {
      ErrorCode: 'ResourceNotFoundException',
      ErrorMessage: `Event bus ${bus} does not exist.`,
    };
  }
  if (Buffer.byteLength(JSON.stringify(entry)) > MAX_ENTRY_BYTES) {
    return {
      ErrorCode: 'EntrySizeExceeded',
      ErrorMessage: 'Total size of the entries in the request is over the limit.',
    };
  }
  let detail: unknown;
  try {
    detail = JSON.parse(String(entry.Detail ?? ''));
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  if (typeof entry.Source !== 'string' || typeof entry.DetailType !== 'string') {
    return {
      ErrorCode: 'InvalidArgument',
      ErrorMessage: 'Parameter(s) Source and DetailType must be specified.',
    };
  }
  const time = typeof entry.Time === 'number' ? new Date(entry.Time * 1000) : new Date(Date.now());
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: ACCOUNT,
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: options.region,
    resources: (entry.Resources as string[] | undefined) ?? [],
    detail,
  };
}
