import {
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  type SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { GetQueueUrlCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** What the pump needs: any Scheduler endpoint that lists schedules, and SQS for targets. */
export interface SchedulePumpOptions {
  readonly scheduler: SchedulerClient;
  readonly sqs: SQSClient;
  readonly group: string;
  readonly clock: () => number;
  /** Fire this much late (the fault tests' "scheduler that fires late"). @default 0 */
  readonly lateByMs?: number;
  /** Called for every delivery, dead-lettering or unreadable schedule. */
  readonly onFire?: (
    name: string,
    outcome: 'delivered' | 'dead-lettered' | 'skipped',
    detail?: string,
  ) => void;
}

/** The result of one pass. */
export interface PumpPass {
  readonly delivered: number;
  readonly deadLettered: number;
  /** When the next schedule falls due (epoch ms), or null when none is waiting. */
  readonly nextAt: number | null;
}

/** Reads `at(2026-11-05T08:58:00)` (UTC, or the schedule's timezone when it is UTC-like). */
export function fireTime(expression: string, timezone: string | undefined): number | null {
  const match = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/.exec(expression);
  if (!match || (timezone && timezone !== 'UTC' && timezone !== 'Etc/UTC')) return null;
  return Date.parse(`${match[1]}Z`);
}

const MAX_IMMEDIATE_TRIES = 3;

function getSchedule(scheduler: SchedulerClient, name: string, group: string) {
  return scheduler.send(new GetScheduleCommand({ Name: name, GroupName: group }));
}

/**
 * One pass of the schedule pump: lists the group's schedules, fires every one-shot
 * schedule that is due into its SQS target (retrying, then sending to the schedule's DLQ),
 * and deletes it after completion when it asks for that. It only uses ListSchedules,
 * GetSchedule and DeleteSchedule, so it works against the local Scheduler emulator and
 * against LocalStack, whose Scheduler stores schedules but does not fire them.
 */
export async function pumpSchedules(
  options: SchedulePumpOptions,
  queueUrls = new Map<string, string>(),
): Promise<PumpPass> {
  const { scheduler, sqs, group } = options;
  const urlOf = async (arn: string) => {
    let url = queueUrls.get(arn);
    if (url === undefined) {
      const { QueueUrl } = await sqs.send(
        new GetQueueUrlCommand({ QueueName: arn.split(':').pop()! }),
      );
      url = QueueUrl!;
      queueUrls.set(arn, url);
    }
    return url;
  };
  let delivered = 0;
  let deadLettered = 0;
  let nextAt: number | null = null;
  let NextToken: string | undefined;
  do {
    const page = await scheduler.send(
      new ListSchedulesCommand({ GroupName: group, NextToken, MaxResults: 100 }),
    );
    NextToken = page.NextToken;
    for (const summary of page.Schedules ?? []) {
      if (summary.State === 'DISABLED') continue;
      let schedule: Awaited<ReturnType<typeof getSchedule>>;
      try {
        schedule = await getSchedule(scheduler, summary.Name!, group);
      } catch (error) {
        if ((error as Error).name === 'ResourceNotFoundException') continue; // deleted since it was listed
        throw error;
      }
      const at = fireTime(schedule.ScheduleExpression ?? '', schedule.ScheduleExpressionTimezone);
      if (at === null) {
        options.onFire?.(
          summary.Name!,
          'skipped',
          `not a one-shot UTC at() schedule: ${schedule.ScheduleExpression}`,
        );
        continue;
      }
      const due = at + (options.lateByMs ?? 0);
      if (due > options.clock()) {
        nextAt = nextAt === null ? due : Math.min(nextAt, due);
        continue;
      }
      const target = schedule.Target!;
      let sent = false;
      const tries = Math.min(
        MAX_IMMEDIATE_TRIES,
        (target.RetryPolicy?.MaximumRetryAttempts ?? 185) + 1,
      );
      for (let attempt = 0; attempt < tries && !sent; attempt++) {
        try {
          await sqs.send(
            new SendMessageCommand({
              QueueUrl: await urlOf(target.Arn!),
              MessageBody: target.Input ?? '{}',
            }),
          );
          sent = true;
        } catch {
          // retried below, then dead-lettered
        }
      }
      if (sent) {
        delivered += 1;
        options.onFire?.(summary.Name!, 'delivered');
      } else if (target.DeadLetterConfig?.Arn) {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: await urlOf(target.DeadLetterConfig.Arn),
            MessageBody: target.Input ?? '{}',
          }),
        );
        deadLettered += 1;
        options.onFire?.(summary.Name!, 'dead-lettered');
      } else {
        continue; // nowhere to put it: leave the schedule and try again on the next pass
      }
      if (schedule.ActionAfterCompletion === 'DELETE') {
        try {
          await scheduler.send(new DeleteScheduleCommand({ Name: summary.Name, GroupName: group }));
        } catch (error) {
          if ((error as Error).name !== 'ResourceNotFoundException') throw error;
        }
      }
    }
  } while (NextToken);
  return { delivered, deadLettered, nextAt };
}
