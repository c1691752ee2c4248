import type { HourglassDefinitions, TaskOutcome } from './definitions';
import { LIFECYCLE_SOURCE, OUTCOME_DETAIL_TYPES } from './lifecycle';

/** An EventBridge event pattern: exact sources and detail-types, nothing broader. */
export interface EventPattern {
  readonly source: string[];
  readonly 'detail-type': string[];
  readonly detail?: Record<string, string[]>;
}

/**
 * The bus rule patterns that feed ingest: one per source with exactly the detail-types the
 * workflows consume (one pattern per source, so no source gets another's detail-types), and
 * one for the lifecycle events of the workflows that have task-outcome transitions.
 */
export function ingestPatterns(definitions: HourglassDefinitions): EventPattern[] {
  const bySource = new Map<string, Set<string>>();
  for (const workflow of definitions.workflows) {
    for (const event of workflow.events) {
      const types = bySource.get(event.source) ?? new Set<string>();
      types.add(event.detailType);
      bySource.set(event.source, types);
    }
  }
  const patterns: EventPattern[] = [...bySource]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([source, types]) => ({ source: [source], 'detail-type': [...types].sort() }));

  const outcomes = new Set<string>();
  const chained = new Set<string>();
  for (const workflow of definitions.workflows) {
    for (const transition of workflow.transitions) {
      const dot = transition.trigger.lastIndexOf('.');
      if (dot === -1) continue;
      outcomes.add(OUTCOME_DETAIL_TYPES[transition.trigger.slice(dot + 1) as TaskOutcome]);
      chained.add(workflow.name);
    }
  }
  if (chained.size > 0) {
    patterns.push({
      source: [LIFECYCLE_SOURCE],
      'detail-type': [...outcomes].sort(),
      detail: { workflow: [...chained].sort() },
    });
  }
  return patterns;
}
