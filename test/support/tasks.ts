import type { TaskItem } from '../../shared/aws';
import { T0 } from './events';

/** A SCHEDULED task row due at T0, generation 1, no attempts yet; override what a test needs. */
export function taskItem(overrides: Partial<TaskItem> = {}): TaskItem {
  const taskId = overrides.taskId ?? 't1';
  const workflow = overrides.workflow ?? 'w';
  const key = overrides.key ?? taskId;
  return {
    PK: `I#${workflow}#${key}`,
    SK: `T#${taskId}`,
    type: 'task',
    GSI1PK: 'x',
    GSI1SK: 'y',
    taskId,
    workflow,
    key,
    taskType: 'render',
    status: 'SCHEDULED',
    generation: 1,
    attempt: 0,
    dueAt: T0,
    runAt: T0,
    deadlineAt: null,
    input: {},
    createdBy: 'e',
    lateCancels: [],
    updatedAt: T0,
    timeline: [],
    ...overrides,
  };
}
