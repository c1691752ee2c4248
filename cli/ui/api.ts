import { inspectInstance, listRejected } from '../../shared/aws/operator';
import { cancelTask, retryTask } from '../../shared/aws/operator-actions';
import { type DeadLetterQueues, readOverview, readTask } from '../../shared/aws/overview';
import type { StoreDeps } from '../../shared/aws/store';
import { diagram, findWorkflow, type HourglassDefinitions } from '../../shared/core';
import { HourglassError } from '../../shared/core/errors';
import type { DashboardApi } from './server';

/**
 * The dashboard's API bound to one target: the same operator functions the command line
 * calls (`inspect`, `rejected`, `cancel`, `retry`), plus the overview and task reads.
 */

/** A request parameter or body field that is missing or empty. */
function required(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new HourglassError(`'${name}' is required`);
  }
  return value.trim();
}

/** What the dashboard reads from and acts on. */
export interface DashboardTarget {
  /** Said in the page's header: which table, which stack or local cloud. */
  readonly description: string;
  readonly store: StoreDeps;
  /** The dead-letter queues the overview shows, when the target knows them. */
  readonly deadLetterQueues: DeadLetterQueues | null;
}

/**
 * The API for {@link startDashboard}: reads (`meta`, `overview`, `instance`, `task`,
 * `rejected`) and actions (`cancel`, `retry`), recorded as done by `by`.
 */
export function dashboardApi(
  target: DashboardTarget,
  definitions: HourglassDefinitions,
  by: string,
): DashboardApi {
  const { store } = target;
  const workflows = definitions.workflows.map((w) => w.name);
  return {
    describe: () => ({ target: target.description, workflows }),
    reads: {
      meta: async () => ({ target: target.description, workflows }),
      overview: () => readOverview(store, definitions, target.deadLetterQueues),
      instance: async (params) => {
        const workflow = findWorkflow(definitions, required(params.get('workflow'), 'workflow'));
        const report = await inspectInstance(
          store,
          definitions,
          workflow.name,
          required(params.get('key'), 'key'),
        );
        return {
          ...report,
          diagram: diagram(workflow, report.found ? { current: report.state } : {}),
        };
      },
      task: (params) => readTask(store, definitions, required(params.get('id'), 'id')),
      rejected: () => listRejected(store, { limit: 100 }),
    },
    actions: {
      cancel: (body) =>
        cancelTask(store, definitions, required(body.taskId, 'taskId'), {
          reason: required(body.reason, 'reason'),
          by,
        }),
      retry: (body) =>
        retryTask(store, definitions, required(body.taskId, 'taskId'), {
          reason: required(body.reason, 'reason'),
          by,
        }),
    },
  };
}
