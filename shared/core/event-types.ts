import type { StandardSchemaV1 } from '@standard-schema/spec';
import { DefinitionError, describeValue } from './errors';
import { LIFECYCLE_SOURCE } from './lifecycle';
import type { TaskOutcome } from './task-types';
import type { Json } from './validation';

/** Event types: the domain events workflows consume, with their schemas. */

/** An event type a workflow consumes: EventBridge `source` and `detail-type`, and the detail's schema. */
export interface EventType<
  Name extends string = string,
  Schema extends StandardSchemaV1 = StandardSchemaV1,
> {
  readonly kind: 'event-type';
  readonly source: string;
  readonly detailType: Name;
  readonly schema: Schema;
  /**
   * Where the event's own time is, when finer than EventBridge's: a path into the detail
   * such as `detail.occurredAt` (an ISO-8601 time with an offset, milliseconds kept). Events
   * without it use the envelope's `time`, which EventBridge keeps to the whole second.
   */
  readonly timeField?: string;
}

/**
 * Declares an event type. The schema is any Standard Schema (Zod, Valibot, ArkType, …);
 * events whose detail fails it are rejected with the schema's message and path.
 *
 * Events of one key are applied in event-time order, ties broken by event id. EventBridge's
 * `time` has whole-second precision, so two events of one key in the same second are
 * ordered by their (random) ids: name a finer time in the detail with `timeField` when the
 * producer has one.
 *
 * @example
 * const UserRegistered = defineEvent({
 *   source: 'shop',
 *   detailType: 'UserRegistered',
 *   schema: z.object({ userId: z.string(), email: z.string() }),
 * });
 */
export function defineEvent<const Name extends string, Schema extends StandardSchemaV1>(options: {
  readonly source: string;
  readonly detailType: Name;
  readonly schema: Schema;
  readonly timeField?: string;
}): EventType<Name, Schema> {
  const where = `event '${String(options?.detailType)}'`;
  if (
    typeof options?.detailType !== 'string' ||
    !/^[A-Za-z][\w.-]{0,127}$/.test(options.detailType)
  ) {
    throw new DefinitionError(
      where,
      `detailType must be letters, digits, ".", "_" or "-", starting with a letter, got ${describeValue(options?.detailType)}`,
    );
  }
  if (options.detailType.includes('.')) {
    throw new DefinitionError(
      where,
      'detailType must not contain "." because "<task-type>.<outcome>" names task outcomes',
    );
  }
  if (typeof options.source !== 'string' || options.source.length === 0) {
    throw new DefinitionError(
      where,
      `source must be a non-empty string such as "shop", got ${describeValue(options.source)}`,
    );
  }
  if (options.source === LIFECYCLE_SOURCE) {
    throw new DefinitionError(
      where,
      `source "${LIFECYCLE_SOURCE}" is reserved for the task lifecycle events Hourglass publishes`,
    );
  }
  if (typeof options.schema?.['~standard']?.validate !== 'function') {
    throw new DefinitionError(
      where,
      'schema must be a Standard Schema (for example a Zod, Valibot or ArkType schema)',
    );
  }
  if (
    options.timeField !== undefined &&
    (typeof options.timeField !== 'string' ||
      !/^detail(\.[A-Za-z_$][\w$]*)+$/.test(options.timeField))
  ) {
    throw new DefinitionError(
      where,
      `timeField must be a path into the detail such as "detail.occurredAt", got ${describeValue(options.timeField)}`,
    );
  }
  return { kind: 'event-type', ...options };
}

/** The event as workflow functions (guards, assign, input) see it. */
export interface WorkflowEvent<Detail = unknown> {
  readonly id: string;
  readonly source: string;
  readonly detailType: string;
  /** Event time, ISO-8601 UTC. */
  readonly time: string;
  readonly detail: Detail;
}

/** The detail of a task outcome trigger such as `send-discount-code.completed`. */
export interface TaskOutcomeDetail {
  readonly taskId: string;
  readonly taskType: string;
  readonly outcome: TaskOutcome;
  readonly attempts: number;
  readonly input: Json;
  /** On `.completed`: what the handler returned, if anything (small JSON). */
  readonly result?: Json;
}
