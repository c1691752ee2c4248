import type { Context } from 'aws-lambda';
import { powertoolsTelemetry, runtime, SWEEP_RESERVE_MS, sweep } from '../shared/aws';

const { config, clients, clock } = runtime();
const telemetry = powertoolsTelemetry('hourglass-sweeper');

/**
 * Runs every 5 minutes: re-sends the timers of tasks whose timer was lost, and publishes
 * again the lifecycle events the relay lost. Stops starting work when its time runs short.
 */
export async function handler(
  _event: unknown,
  context: Context,
): Promise<{ resent: number; republished: number; unfinished: boolean }> {
  const result = await sweep({
    dynamo: clients.dynamo,
    tableName: config.tableName,
    clock,
    sqs: clients.sqs,
    eventBridge: clients.eventBridge,
    busName: config.busName,
    taskQueue: (taskType) => config.taskQueue(taskType),
    telemetry,
    hasTime: () => context.getRemainingTimeInMillis() > SWEEP_RESERVE_MS,
  });
  return {
    resent: result.resent.length,
    republished: result.republished.length,
    unfinished: result.unfinished,
  };
}
