import { type EventType, type HourglassDefinitions, keyPathOf, type Workflow } from './definitions';
import { TimeFormatError } from './errors';
import { readPath } from './path';
import { parseInstant } from './time';

/** EventBridge's limit on one event's size: larger events are rejected, as AWS would. */
export const MAX_EVENT_BYTES = 256 * 1024;
/** The longest correlation key: it becomes part of DynamoDB keys and task ids. */
export const MAX_KEY_LENGTH = 256;

/** An accepted event as an instance records it. `time` is epoch milliseconds. */
export interface RecordedEvent {
  readonly id: string;
  readonly source: string;
  readonly detailType: string;
  readonly time: number;
  readonly detail: unknown;
  /**
   * When a decision accepted it, epoch ms; set by the decider. Replays compare it with
   * tasks' claim times to see each event exactly as it was seen when it arrived.
   */
  readonly appliedAt?: number;
}

/** An event accepted for one workflow instance. */
export interface RoutedEvent {
  readonly workflow: Workflow;
  readonly key: string;
  readonly event: RecordedEvent;
}

/** An event that was not accepted, and why. Kept, never silently dropped. */
export interface Rejection {
  readonly eventId: string;
  /** The workflow that refused it, or null when no workflow could take it. */
  readonly workflow: string | null;
  readonly reason: string;
}

/** The outcome of {@link routeEvent}: where the event goes, and who refused it. */
export interface Routing {
  readonly routed: RoutedEvent[];
  readonly rejected: Rejection[];
}

function formatIssuePath(
  path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined,
) {
  return ['detail', ...(path ?? []).map((p) => String(typeof p === 'object' ? p.key : p))].join(
    '.',
  );
}

/**
 * Validates the detail against its event type's schema; returns the schema's output or a
 * reason naming the first bad field.
 */
async function validateDetail(type: EventType, detail: unknown) {
  const result = await type.schema['~standard'].validate(detail);
  if (result.issues === undefined) return { detail: result.value };
  const reason = result.issues
    .slice(0, 3)
    .map((issue) => `${formatIssuePath(issue.path)}: ${issue.message}`)
    .join('; ');
  return { reason: `invalid detail for '${type.detailType}': ${reason}` };
}

/** The time fields a workflow reads from this event to compute due times and deadlines. */
function timeFieldsRead(workflow: Workflow, detailType: string): string[] {
  const paths: string[] = [];
  for (const transition of workflow.transitions) {
    if (transition.trigger !== detailType) continue;
    for (const schedule of transition.schedules) {
      if (schedule.atPath !== null) paths.push(schedule.atPath);
      if (schedule.deadline?.atPath !== undefined) paths.push(schedule.deadline.atPath);
    }
  }
  return paths;
}

/** The envelope of a raw EventBridge event, checked: its fields, or the reason it is refused. */
function checkEnvelope(
  raw: unknown,
  eventId: string,
): string | { source: string; detailType: string; time: number } {
  const envelope = (raw ?? {}) as Record<string, unknown>;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return 'an event must be a JSON object with id, source, detail-type, time and detail';
  }
  if (eventId === '(no id)') return 'id is missing: every event needs a unique id';
  const bytes = Buffer.byteLength(JSON.stringify(raw));
  if (bytes > MAX_EVENT_BYTES) {
    return `the event is ${bytes} bytes; EventBridge's limit is ${MAX_EVENT_BYTES} bytes`;
  }
  const source = envelope.source;
  const detailType = envelope['detail-type'];
  if (typeof source !== 'string' || source === '') return 'source is missing or not a string';
  if (typeof detailType !== 'string' || detailType === '') {
    return 'detail-type is missing or not a string';
  }
  let time: number;
  try {
    time = parseInstant(envelope.time, 'time');
  } catch (error) {
    return (error as Error).message;
  }
  if (
    envelope.detail === null ||
    typeof envelope.detail !== 'object' ||
    Array.isArray(envelope.detail)
  ) {
    return 'detail must be a JSON object';
  }
  return { source, detailType, time };
}

/**
 * Parses one raw EventBridge event (`id`, `source`, `detail-type`, `time`, `detail`) and
 * routes it to the workflow instances that consume it. Every problem becomes a rejection
 * whose reason names the field: a missing id, a time without an offset, a detail that
 * fails its schema, a missing correlation key, an unreadable `publishAt`, an oversize
 * event, or an event no workflow consumes.
 *
 * @example
 * const { routed, rejected } = await routeEvent(definitions, JSON.parse(line));
 */
export async function routeEvent(
  definitions: HourglassDefinitions,
  raw: unknown,
): Promise<Routing> {
  const envelope = (raw ?? {}) as Record<string, unknown>;
  const eventId = typeof envelope.id === 'string' && envelope.id !== '' ? envelope.id : '(no id)';
  const reject = (reason: string, workflow: string | null = null): Routing => ({
    routed: [],
    rejected: [{ eventId, workflow, reason }],
  });

  const checked = checkEnvelope(raw, eventId);
  if (typeof checked === 'string') return reject(checked);
  const { source, detailType } = checked;
  let { time } = checked;
  const type = definitions.events.find((e) => e.source === source && e.detailType === detailType);
  const consumers = definitions.workflows.filter((w) =>
    w.events.some((e) => e.source === source && e.detailType === detailType),
  );
  if (type === undefined || consumers.length === 0) {
    return reject(`no workflow consumes '${detailType}' from source '${source}'`);
  }
  const validated = await validateDetail(type, envelope.detail);
  if (validated.reason !== undefined) return reject(validated.reason);

  if (type.timeField !== undefined) {
    const own = readPath({ detail: validated.detail }, type.timeField);
    if (own !== undefined) {
      try {
        time = parseInstant(own, type.timeField);
      } catch (error) {
        return reject((error as Error).message);
      }
    }
  }
  const event: RecordedEvent = { id: eventId, source, detailType, time, detail: validated.detail };
  const routing: Routing = { routed: [], rejected: [] };
  for (const workflow of consumers) {
    const keyPath = keyPathOf(workflow, detailType);
    const keyValue = readPath({ detail: event.detail, source, id: eventId }, keyPath);
    if ((typeof keyValue !== 'string' || keyValue === '') && typeof keyValue !== 'number') {
      routing.rejected.push({
        eventId,
        workflow: workflow.name,
        reason: `${keyPath} is missing or not a string: workflow '${workflow.name}' correlates on it`,
      });
      continue;
    }
    const key = String(keyValue);
    if (key.length > MAX_KEY_LENGTH) {
      routing.rejected.push({
        eventId,
        workflow: workflow.name,
        reason: `${keyPath} is ${key.length} characters; a correlation key may have at most ${MAX_KEY_LENGTH}`,
      });
      continue;
    }
    const badTime = timeFieldsRead(workflow, detailType)
      .map((path) => {
        try {
          parseInstant(readPath({ detail: event.detail }, path), path);
          return null;
        } catch (error) {
          return error instanceof TimeFormatError ? error.message : String(error);
        }
      })
      .find((reason) => reason !== null);
    if (badTime) {
      routing.rejected.push({ eventId, workflow: workflow.name, reason: badTime });
      continue;
    }
    routing.routed.push({ workflow, key, event });
  }
  return routing;
}
