import { createHash } from 'node:crypto';
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
  /**
   * Called for every delivery, dead-lettering or unreadable schedule. `detail` is the
   * target input for a delivery or dead-lettering, and the reason for a skip.
   */
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

const MINUTE_MS = 60_000;

/**
 * When EventBridge Scheduler invokes the target of a schedule set for `at`. AWS: "All
 * schedule types on EventBridge Scheduler invoke their targets with 60 second precision.
 * This means that if you set your schedule to run at 1:00, it will invoke the target API
 * between 1:00:00 and 1:00:59" (EventBridge Scheduler User Guide, "Schedule types"). The
 * pump does the same: the start of `at`'s minute plus an offset within it, fixed per
 * schedule name so that a run can be repeated and its moments known in advance.
 */
export function invocationTime(scheduleName: string, at: number): number {
  const offset = createHash('sha256').update(scheduleName).digest().readUInt32BE(0) % MINUTE_MS;
  return Math.floor(at / MINUTE_MS) * MINUTE_MS + offset;
}

const MAX_IMMEDIATE_TRIES = 3;

function getSchedule(scheduler: SchedulerClient, name: string, group: string) {
  return scheduler.send(new GetScheduleCommand({ Name: name, GroupName: group }));
}

type Schedule = Awaited<ReturnType<typeof getSchedule>>;

/**
 * What the pump remembers between passes: queue URLs by ARN, and every schedule it has
 * read, by name and last modification, so a pass reads (GetSchedule) only the schedules
 * that are new or changed since the last one. Without it, a pass over N waiting schedules
 * costs N requests, and a busy local cloud spends its CPU re-reading them.
 */
export class PumpMemory {
  readonly queueUrls = new Map<string, string>();
  readonly schedules = new Map<
    string,
    { readonly modified: string; readonly schedule: Schedule }
  >();
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
  memory = new PumpMemory(),
): Promise<PumpPass> {
  const { scheduler, group } = options;
  const listed = new Set<string>();
  const tally = { delivered: 0, deadLettered: 0, nextAt: null as number | null };
  let NextToken: string | undefined;
  do {
    const page = await scheduler.send(
      new ListSchedulesCommand({ GroupName: group, NextToken, MaxResults: 100 }),
    );
    NextToken = page.NextToken;
    for (const summary of page.Schedules ?? []) {
      listed.add(summary.Name!);
      if (summary.State === 'DISABLED') continue;
      const modified = String(summary.LastModificationDate?.valueOf() ?? '');
      let schedule = memory.schedules.get(summary.Name!);
      if (schedule?.modified !== modified) {
        try {
          schedule = { modified, schedule: await getSchedule(scheduler, summary.Name!, group) };
        } catch (error) {
          if ((error as Error).name === 'ResourceNotFoundException') continue; // deleted since it was listed
          throw error;
        }
        memory.schedules.set(summary.Name!, schedule);
      }
      const outcome = await fireIfDue(options, memory, schedule.schedule);
      if (outcome.type === 'waiting') {
        if (outcome.dueAt !== undefined)
          tally.nextAt = Math.min(tally.nextAt ?? outcome.dueAt, outcome.dueAt);
        continue;
      }
      memory.schedules.delete(summary.Name!);
      if (outcome.type === 'delivered') tally.delivered += 1;
      else tally.deadLettered += 1;
    }
  } while (NextToken);
  for (const name of memory.schedules.keys()) if (!listed.has(name)) memory.schedules.delete(name);
  return tally;
}

/** What firing a schedule came to: still waiting (until `dueAt`, when it is a one-shot), or done with. */
type FireOutcome =
  | { readonly type: 'waiting'; readonly dueAt?: number }
  | { readonly type: 'delivered' | 'dead-lettered' };

/**
 * Fires `schedule` if it is due: sends its input to its SQS target (retrying, then to its
 * DLQ), and deletes it after completion when it asks for that.
 */
async function fireIfDue(
  options: SchedulePumpOptions,
  memory: PumpMemory,
  schedule: Schedule,
): Promise<FireOutcome> {
  const { scheduler, sqs, group } = options;
  const name = schedule.Name!;
  const at = fireTime(schedule.ScheduleExpression ?? '', schedule.ScheduleExpressionTimezone);
  if (at === null) {
    options.onFire?.(
      name,
      'skipped',
      `not a one-shot UTC at() schedule: ${schedule.ScheduleExpression}`,
    );
    return { type: 'waiting' };
  }
  const due = invocationTime(name, at) + (options.lateByMs ?? 0);
  if (due > options.clock()) return { type: 'waiting', dueAt: due };
  const target = schedule.Target!;
  const input = target.Input ?? '{}';
  const send = async (arn: string) =>
    sqs.send(
      new SendMessageCommand({ QueueUrl: await queueUrlOf(sqs, memory, arn), MessageBody: input }),
    );
  let sent = false;
  const tries = Math.min(
    MAX_IMMEDIATE_TRIES,
    (target.RetryPolicy?.MaximumRetryAttempts ?? 185) + 1,
  );
  for (let attempt = 0; attempt < tries && !sent; attempt++) {
    sent = await send(target.Arn!).then(
      () => true,
      () => false, // retried, then dead-lettered
    );
  }
  let outcome: FireOutcome;
  if (sent) {
    outcome = { type: 'delivered' };
  } else if (target.DeadLetterConfig?.Arn) {
    await send(target.DeadLetterConfig.Arn);
    outcome = { type: 'dead-lettered' };
  } else {
    return { type: 'waiting' }; // nowhere to put it: try again on the next pass
  }
  options.onFire?.(name, outcome.type, target.Input);
  if (schedule.ActionAfterCompletion === 'DELETE') {
    try {
      await scheduler.send(new DeleteScheduleCommand({ Name: name, GroupName: group }));
    } catch (error) {
      if ((error as Error).name !== 'ResourceNotFoundException') throw error;
    }
  }
  return outcome;
}

/** The URL of the queue with this ARN, asked once and remembered. */
async function queueUrlOf(sqs: SQSClient, memory: PumpMemory, arn: string): Promise<string> {
  let url = memory.queueUrls.get(arn);
  if (url === undefined) {
    const { QueueUrl } = await sqs.send(
      new GetQueueUrlCommand({ QueueName: arn.split(':').pop()! }),
    );
    url = QueueUrl!;
    memory.queueUrls.set(arn, url);
  }
  return url;
}
