import { DefinitionError, describeValue } from './errors';
import type { EventType } from './event-types';
import { assertPath } from './path';
import { within } from './validation';
import type { State, Workflow } from './workflows';

/** Checks of a workflow's options that look across its states and events. */

/**
 * Checks `startOverOn`: event types of the workflow, each with a transition from the initial
 * state, in a workflow that has a final state to start over from.
 */
export function compileStartOver(
  where: string,
  events: readonly EventType[] | undefined,
  states: Readonly<Record<string, State>>,
  initial: string,
): ReadonlySet<string> | null {
  if (events === undefined) return null;
  if (!Array.isArray(events)) {
    throw new DefinitionError(where, 'startOverOn must be a list of event types, or []');
  }
  if (events.length > 0 && !Object.values(states).some((s) => s.final)) {
    throw new DefinitionError(
      where,
      'startOverOn only applies to an instance in a final state, and no state is final; remove startOverOn',
    );
  }
  const names = new Set<string>();
  for (const [i, event] of events.entries()) {
    const name = (event as EventType | undefined)?.detailType;
    if (name === undefined || states[initial]?.on[name] === undefined) {
      throw new DefinitionError(
        where,
        `startOverOn[${i}] (${name === undefined ? describeValue(event) : `'${name}'`}) must be an event with a transition from the initial state '${initial}', which it takes after starting over`,
      );
    }
    names.add(name);
  }
  return names;
}

/** Checks the per-event key paths: each names an event the workflow consumes and is a path. */
export function compileKeyPaths(
  where: string,
  keys: Readonly<Record<string, string | undefined>> | undefined,
  eventNames: ReadonlySet<string>,
): Record<string, string> {
  const paths: Record<string, string> = {};
  for (const [detailType, path] of Object.entries(keys ?? {})) {
    if (path === undefined) continue;
    if (!eventNames.has(detailType)) {
      throw new DefinitionError(
        where,
        `keys names '${detailType}', which is not one of its events (${[...eventNames].join(', ')})`,
      );
    }
    within(where, () => assertPath(path, `keys.${detailType}`));
    paths[detailType] = path;
  }
  return paths;
}

/**
 * A workflow's version and the earlier definition it keeps: a whole number, higher than
 * that of `previous`, which must be a workflow of the same name.
 */
export function compileVersion(
  where: string,
  options: { readonly name: string; readonly version?: number; readonly previous?: Workflow },
): { version: number; previous: Workflow | null } {
  const version = options.version ?? 1;
  if (!Number.isInteger(version) || version < 1) {
    throw new DefinitionError(
      where,
      `version must be a whole number ≥ 1, got ${describeValue(version)}`,
    );
  }
  const previous = options.previous ?? null;
  if (previous === null) return { version, previous };
  if ((previous as Workflow)?.kind !== 'workflow' || previous.name !== options.name) {
    throw new DefinitionError(
      where,
      `previous must be the earlier definition of workflow '${options.name}' (made with defineWorkflow, same name)`,
    );
  }
  if (previous.version >= version) {
    throw new DefinitionError(
      where,
      `version ${version} must be higher than that of previous (${previous.version}); bump version`,
    );
  }
  return { version, previous };
}

/** The versions a workflow carries: itself, then its `previous` ones, newest first. */
export function versionsOf(workflow: Workflow): Workflow[] {
  const versions: Workflow[] = [];
  for (let w: Workflow | null = workflow; w !== null; w = w.previous) versions.push(w);
  return versions;
}

/** The definition an instance started under: `workflow` or one of its `previous` versions. */
export function definitionOf(workflow: Workflow, version: number | undefined): Workflow | null {
  return versionsOf(workflow).find((w) => w.version === (version ?? 1)) ?? null;
}
