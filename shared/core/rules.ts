import { DefinitionError } from './errors';
import type { EventType } from './event-types';
import { assertTaskType } from './task-types';
import {
  type DetailOf,
  defineWorkflow,
  type ScheduleSpec,
  type Workflow,
  type WorkflowOptions,
} from './workflows';

/** Rules: the one-event shorthand for a one-state workflow. */

/** Options of {@link defineRule}. */
export interface RuleOptions<Trigger extends EventType> {
  readonly name: string;
  /** Path to the correlation key, e.g. `detail.imageId`. */
  readonly key: string;
  /** The event that schedules the task. */
  readonly on: Trigger;
  readonly schedule: ScheduleSpec<Record<string, never>, DetailOf<Trigger>>;
  /** Events that cancel the pending task. @default none */
  readonly cancelOn?: readonly EventType[];
  /** @default '7d' */
  readonly retain?: string;
}

/**
 * The shorthand for "on X schedule T; cancel on Y": compiles to a one-state workflow
 * (`idle`: the trigger schedules the task, a cancel event cancels it if it has not started).
 *
 * A rule never needs its task's outcome, so it has no transition on it: the task's lifecycle
 * event is not published (unless `lifecycleEvents: 'all'` asks for it) and the outcome does
 * not travel back through the bus and ingest to the instance. That round trip was a third
 * of a rule's cost per task (docs/cost.md).
 *
 * @example
 * const compress = defineRule({
 *   name: 'image-compression',
 *   key: 'detail.imageId',
 *   on: ImageUploaded,
 *   schedule: { task: compressImage },
 *   cancelOn: [ImageDeleted],
 * });
 */
export function defineRule<Trigger extends EventType>(options: RuleOptions<Trigger>): Workflow {
  const where = `rule '${String(options?.name)}'`;
  if ((options?.on as EventType | undefined)?.kind !== 'event-type') {
    throw new DefinitionError(where, 'on must be an event type made with defineEvent()');
  }
  assertTaskType(options.schedule?.task, where, 'schedule.task');
  const cancelOn = options.cancelOn ?? [];
  const task = options.schedule.task;
  const cancels = Object.fromEntries(cancelOn.map((event) => [event.detailType, { cancel: task }]));
  return defineWorkflow({
    name: options.name,
    key: options.key,
    events: [options.on, ...cancelOn],
    initial: 'idle',
    retain: options.retain,
    states: {
      idle: { on: { [options.on.detailType]: { schedule: options.schedule }, ...cancels } },
    },
  } as WorkflowOptions<readonly EventType[], Record<string, never>>);
}
