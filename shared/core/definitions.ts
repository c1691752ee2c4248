import { DefinitionError, HourglassError } from './errors';
import type { EventType } from './event-types';
import { assertTaskType, type TaskType } from './task-types';
import { versionsOf } from './workflow-checks';
import type { Workflow } from './workflows';

/**
 * The definitions of one deployment: task types, event types and workflows, gathered by
 * defineHourglass. Each kind has its own file; this one gathers them.
 */

export * from './event-types';
export * from './rules';
export * from './task-types';
export type { Json } from './validation';
export * from './workflows';

/** All definitions of one deployment. Build it with {@link defineHourglass}. */
export interface HourglassDefinitions {
  readonly kind: 'hourglass';
  readonly taskTypes: readonly TaskType[];
  readonly events: readonly EventType[];
  readonly workflows: readonly Workflow[];
  /**
   * The module the definitions were made in (a file URL or path): the CDK construct bundles
   * the ingest function from it, so ingest runs exactly the definitions its rules route.
   * Null when it could not be told (pass `module: import.meta.url` to defineHourglass).
   */
  readonly module: string | null;
}

/**
 * Gathers the task types, events and workflows of one deployment and checks that they fit
 * together: unique names, every task type a workflow uses is declared, one definition per
 * event type. This is what the CDK construct, the runtime, the CLI and the simulator read.
 *
 * @example
 * export default defineHourglass({
 *   taskTypes: [sendDiscountCode, discountReminder],
 *   workflows: [welcomeDiscount],
 * });
 */
export function defineHourglass(options: {
  readonly taskTypes: readonly TaskType[];
  readonly workflows: readonly Workflow[];
  /** Event types, including any no workflow consumes yet. @default the workflows' events */
  readonly events?: readonly EventType[];
  /**
   * The module these definitions live in, as `import.meta.url`, for the construct to bundle
   * the ingest function from. @default the file that calls defineHourglass, read from the
   * call stack
   */
  readonly module?: string;
}): HourglassDefinitions {
  const where = 'definitions';
  const taskTypes = new Map<string, TaskType>();
  for (const [i, task] of (options?.taskTypes ?? []).entries()) {
    assertTaskType(task, where, `taskTypes[${i}]`);
    if (taskTypes.has(task.name)) {
      throw new DefinitionError(where, `task type '${task.name}' is listed twice in taskTypes`);
    }
    taskTypes.set(task.name, task);
  }
  const workflows = new Map<string, Workflow>();
  const events = new Map<string, EventType>();
  const addEvent = (event: EventType, from: string) => {
    const id = `${event.source}/${event.detailType}`;
    const known = events.get(id);
    if (known !== undefined && known !== event) {
      throw new DefinitionError(
        where,
        `${from} defines event '${event.detailType}' from '${event.source}' again; define each event once and share it`,
      );
    }
    events.set(id, event);
  };
  for (const event of options?.events ?? []) addEvent(event, 'events');
  for (const [i, workflow] of (options?.workflows ?? []).entries()) {
    if ((workflow as Workflow)?.kind !== 'workflow') {
      throw new DefinitionError(
        where,
        `workflows[${i}] must be made with defineWorkflow() or defineRule()`,
      );
    }
    if (workflows.has(workflow.name)) {
      throw new DefinitionError(where, `workflow '${workflow.name}' is listed twice in workflows`);
    }
    workflows.set(workflow.name, workflow);
    // Earlier versions still run their in-flight instances: their task types need workers too.
    for (const task of versionsOf(workflow).flatMap((w) => w.taskTypes)) {
      const known = taskTypes.get(task.name);
      if (known === undefined) {
        throw new DefinitionError(
          where,
          `workflow '${workflow.name}' uses task type '${task.name}', which is not in taskTypes; add it there (a previous version that still runs in-flight instances counts too)`,
        );
      }
      if (known !== task) {
        throw new DefinitionError(
          where,
          `two different task types are named '${task.name}'; give each a unique name`,
        );
      }
    }
    for (const event of workflow.events) addEvent(event, `workflow '${workflow.name}'`);
  }
  if (workflows.size === 0)
    throw new DefinitionError(where, 'workflows must list at least one workflow');
  return {
    kind: 'hourglass',
    taskTypes: [...taskTypes.values()],
    events: [...events.values()],
    workflows: [...workflows.values()],
    module: options.module ?? callerModule(),
  };
}

/**
 * The file that called defineHourglass, from the call stack (`at … (file:///…/index.ts:3:1)`
 * or `at file:///…/index.ts:3:1`), or null when the stack does not say.
 */
function callerModule(): string | null {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  // Frame 0 is callerModule, 1 is defineHourglass, 2 the module that called it.
  const frame = frames[2];
  const match = frame?.match(/\(?((?:file:\/\/)?\/[^()]+?):\d+:\d+\)?\s*$/);
  return match?.[1] ?? null;
}

/** Finds a task type by name, or fails with the names there are. */
export function findTaskType(definitions: HourglassDefinitions, name: string): TaskType {
  const taskType = definitions.taskTypes.find((t) => t.name === name);
  if (taskType === undefined) {
    throw new HourglassError(
      `unknown task type '${name}'; the task types are: ${definitions.taskTypes.map((t) => t.name).join(', ')}`,
    );
  }
  return taskType;
}

/** Finds a workflow by name, or fails with the names there are. */
export function findWorkflow(definitions: HourglassDefinitions, name: string): Workflow {
  const workflow = definitions.workflows.find((w) => w.name === name);
  if (workflow === undefined) {
    throw new HourglassError(
      `unknown workflow '${name}'; the workflows are: ${definitions.workflows.map((w) => w.name).join(', ')}`,
    );
  }
  return workflow;
}
