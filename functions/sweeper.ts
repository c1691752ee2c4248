import { powertoolsTelemetry, runtime, sweepStuckTasks } from '../shared/aws';

const { config, clients, clock } = runtime();
const telemetry = powertoolsTelemetry('hourglass-sweeper');
const deps = {
  dynamo: clients.dynamo,
  tableName: config.tableName,
  clock,
  sqs: clients.sqs,
  taskQueue: (taskType: string) => config.taskQueue(taskType),
};

/** Runs every few minutes: re-sends the timers of tasks whose timer was lost. */
export async function handler(): Promise<{ swept: number }> {
  const swept = await sweepStuckTasks(deps);
  for (const task of swept) {
    telemetry.warn('re-sent the timer of a stuck task', {
      taskId: task.taskId,
      status: task.status,
      runAt: task.runAt,
      leaseUntil: task.leaseUntil,
    });
  }
  return { swept: swept.length };
}
