import { readDevState } from '../local/dev-state';
import { type EventType, type HourglassDefinitions, keyPathOf, readPath } from '../shared/core';
import { HourglassError } from '../shared/core/errors';

/** An event `hourglass emit` would send, found wanting: the message says what to change. */
export class EmitError extends HourglassError {
  constructor(message: string) {
    super(message);
    this.name = 'EmitError';
  }
}

/** The closest name to `name` among `names` (by edit distance), if any is close. */
function closest(name: string, names: readonly string[]): string | undefined {
  const distance = (a: string, b: string) => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0]!;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const kept = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
        previous = kept;
      }
    }
    return row[b.length]!;
  };
  const best = [...names].sort((a, b) => distance(name, a) - distance(name, b))[0];
  return best !== undefined && distance(name, best) <= Math.max(2, name.length / 3)
    ? best
    : undefined;
}

/**
 * Checks an event before `hourglass emit` sends it, against the workflows the local cloud
 * runs: a workflow must consume its detail-type from its source, and its detail must pass
 * the event's schema. Returns the event type (whose source is the one to send from when no
 * `--source` is given). Nothing is sent that the cloud would only reject.
 */
export async function checkEmit(
  definitions: HourglassDefinitions,
  detailType: string,
  source: string | undefined,
  detail: unknown,
): Promise<EventType> {
  const consumed = new Set(definitions.workflows.flatMap((w) => w.events));
  const named = [...consumed].filter((e) => e.detailType === detailType);
  if (named.length === 0) {
    const suggestion = closest(detailType, [...new Set([...consumed].map((e) => e.detailType))]);
    throw new EmitError(
      `no workflow consumes '${detailType}'${suggestion ? `; did you mean '${suggestion}'?` : '.'} The events the workflows consume are: ${[...consumed].map((e) => `${e.detailType} (from ${e.source})`).join(', ')}`,
    );
  }
  const event = source === undefined ? named[0] : named.find((e) => e.source === source);
  if (event === undefined) {
    throw new EmitError(
      `'${detailType}' is consumed from source ${named.map((e) => `'${e.source}'`).join(' or ')}, not '${source}'; leave out --source, or pass --source ${named[0]!.source}`,
    );
  }
  if (source === undefined && named.length > 1) {
    throw new EmitError(
      `'${detailType}' is consumed from several sources (${named.map((e) => e.source).join(', ')}); say which with --source`,
    );
  }
  const result = await event.schema['~standard'].validate(detail);
  if (result.issues !== undefined) {
    const issues = result.issues.map((issue) => {
      const path = (issue.path ?? [])
        .map((p) => (typeof p === 'object' ? String(p.key) : String(p)))
        .join('.');
      return `${path ? `detail.${path}` : 'detail'}: ${issue.message}`;
    });
    throw new EmitError(
      `the detail does not fit '${detailType}', so ingest would reject it: ${issues.join('; ')} (pass --force to send it anyway and watch the rejection)`,
    );
  }
  return event;
}

/** The bus `hourglass emit` puts events on, and how to reach it. */
export interface EmitBus {
  readonly busName: string;
  /** Said before sending: which bus, in which cloud. */
  readonly description: string;
  /** The EventBridge client's settings (an endpoint for the local cloud; none for AWS). */
  readonly client: Record<string, unknown>;
  /** What to say when the bus cannot be reached. */
  readonly unreachable: string;
}

/** The bus of the local cloud `npm run dev` started. */
export async function devCloudBus(): Promise<EmitBus> {
  const state = await readDevState();
  return {
    busName: state.busName,
    description: `the local cloud's bus ${state.busName}`,
    client: {
      endpoint: state.eventbridge,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    },
    unreachable: `cannot reach the local cloud at ${state.eventbridge}; is "npm run dev" still running?`,
  };
}

/** Puts one event on `bus` (the dev cloud's, or a deployed stack's); returns its id. */
export async function emitToBus(
  bus: EmitBus,
  source: string,
  detailType: string,
  detail: unknown,
): Promise<string> {
  const { EventBridgeClient, PutEventsCommand } = await import('@aws-sdk/client-eventbridge');
  const client = new EventBridgeClient(bus.client);
  try {
    const result = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: bus.busName,
            Source: source,
            DetailType: detailType,
            Detail: JSON.stringify(detail),
          },
        ],
      }),
    );
    const entry = result.Entries?.[0];
    if (entry?.ErrorCode)
      throw new EmitError(
        `the bus refused the event: ${entry.ErrorCode} ${entry.ErrorMessage ?? ''}`,
      );
    return entry?.EventId ?? '';
  } catch (error) {
    if (error instanceof EmitError) throw error;
    throw new EmitError(`${bus.unreachable} (${(error as Error).message})`);
  } finally {
    client.destroy();
  }
}

/**
 * What an event will do: each workflow that consumes it, and the key it reaches there
 * (read from the workflow's key path), e.g. `workflow 'trial-end' key 'acc1'`.
 */
export function emitTargets(
  definitions: HourglassDefinitions,
  event: EventType,
  detail: unknown,
): string[] {
  return definitions.workflows
    .filter((w) => w.events.includes(event))
    .map((w) => {
      const keyPath = keyPathOf(w, event.detailType);
      const key = readPath(
        { source: event.source, 'detail-type': event.detailType, detail },
        keyPath,
      );
      return typeof key === 'string'
        ? `workflow '${w.name}' key '${key}'`
        : `workflow '${w.name}' (no key at ${keyPath}: it will be rejected)`;
    });
}
