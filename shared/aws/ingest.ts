import type { SQSClient } from '@aws-sdk/client-sqs';
import type { HourglassDefinitions, Workflow } from '../core/definitions';
import { HourglassError } from '../core/errors';
import { type RecordedEvent, type Rejection, routeEvent } from '../core/events';
import { isTimerType } from '../core/timers';
import { ConflictError } from './errors';
import {
  delaySecondsFor,
  LIFECYCLE_SOURCE,
  parseTaskMessage,
  sendTimers,
  type TaskMessage,
} from './messages';
import { decideAndCommit, putRejections, type StoreDeps } from './store';
import { Metric, type Telemetry } from './telemetry';

/** What ingest needs: the store, the definitions, and telemetry. */
export interface IngestDeps extends StoreDeps {
  readonly definitions: HourglassDefinitions;
  readonly telemetry: Telemetry;
  /** Where an early timer goes back to wait (the ingest queue itself). */
  readonly timers?: TimerRequeue;
}

/** Where ingest sends a timer that arrived early back, to wait in SQS until it is due. */
export interface TimerRequeue {
  readonly sqs: SQSClient;
  /** The ingest queue's URL. */
  readonly queueUrl: string;
  /** How much faster than real time the clock runs (the local cloud's). @default 1 */
  readonly timeScale?: number;
  /** Waits real ms. @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * A timer this much early or less is waited for in the function rather than sent back: an
 * SQS delay is whole seconds and rounded to the nearest one (`delaySecondsFor`), so a timer
 * lands up to half a second early, and sending it back would cost a request and a second.
 */
export const TIMER_EARLY_WAIT_MS = 1_000;

/** One queued message: an EventBridge event delivered by the bus rule to the ingest queue. */
export interface IngestMessage {
  readonly messageId: string;
  readonly body: string;
}

/** The outcome of one batch: which messages go back to the queue, and what happened. */
export interface IngestResult {
  readonly batchItemFailures: { itemIdentifier: string }[];
  readonly accepted: number;
  readonly duplicates: number;
  readonly rejected: number;
}

interface Group {
  readonly workflow: Workflow;
  readonly key: string;
  readonly events: RecordedEvent[];
  readonly messageIds: Set<string>;
}

/**
 * A failure that retrying cannot fix, so its events are recorded as rejected instead of
 * returned to the queue: a definition problem (an HourglassError other than a conflict,
 * such as a history that no longer replays or a decision over the transaction limit), or a
 * write DynamoDB refuses as invalid (a `ValidationException`, or a transaction cancelled
 * with a `ValidationError`, as for an item over 400 KB). Everything else (throttling,
 * conflicts, service faults, and also access or configuration errors that a deploy will
 * fix) is retried and reaches the DLQ if it persists, so no event is dropped because a
 * permission was missing for a while.
 */
export function isPermanent(error: unknown): boolean {
  if (error instanceof ConflictError) return false;
  if (error instanceof HourglassError) return true;
  const e = error as { name?: string; CancellationReasons?: { Code?: string }[] } | null;
  if (e?.name === 'ValidationException') return true;
  return (
    e?.name === 'TransactionCanceledException' &&
    (e.CancellationReasons ?? []).some((r) => r.Code === 'ValidationError')
  );
}

/** A rejected event, with the message it came in. */
interface PendingRejection {
  readonly rejection: Rejection;
  readonly raw: unknown;
  readonly messageId: string;
}

/**
 * Parses and routes a batch: the events of each workflow instance (each event once), the
 * events rejected on the way with their reasons, and which message each event came in.
 * A lifecycle event only names its instance, whose tasks' outcomes the decider reads.
 */
async function groupMessages(
  deps: IngestDeps,
  messages: readonly IngestMessage[],
): Promise<{
  groups: Map<string, Group>;
  rejections: PendingRejection[];
  messageOf: Map<string, string>;
  early: EarlyTimer[];
  /** The latest due time of the timers to fire in this batch. */
  dueBy: number;
}> {
  const groups = new Map<string, Group>();
  const rejections: PendingRejection[] = [];
  const messageOf = new Map<string, string>();
  const early: EarlyTimer[] = [];
  let latest = Number.NEGATIVE_INFINITY;
  const group = (workflow: Workflow, key: string) => {
    const id = `${workflow.name}\u0000${key}`;
    let g = groups.get(id);
    if (g === undefined) {
      g = { workflow, key, events: [], messageIds: new Set() };
      groups.set(id, g);
    }
    return g;
  };

  for (const message of messages) {
    const timer = parseTaskMessage(message.body);
    if (timer !== null && isTimerType(timer.taskType)) {
      const workflow = sortTimer(deps, message.messageId, timer, early);
      if (workflow !== undefined) {
        // Due (or nearly): its instance decides, and the decider fires every timer due by then.
        group(workflow, timer.key).messageIds.add(message.messageId);
        latest = Math.max(latest, timer.runAt);
      }
      continue;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(message.body);
    } catch (error) {
      rejections.push({
        rejection: {
          eventId: message.messageId,
          workflow: null,
          reason: `the message body is not JSON (${(error as Error).message})`,
        },
        raw: message.body,
        messageId: message.messageId,
      });
      continue;
    }
    const envelope = raw as { source?: unknown; detail?: { workflow?: unknown; key?: unknown } };
    if (envelope?.source === LIFECYCLE_SOURCE) {
      const { workflow: name, key } = envelope.detail ?? {};
      const workflow = deps.definitions.workflows.find((w) => w.name === name);
      if (workflow === undefined || typeof key !== 'string') {
        deps.telemetry.warn('lifecycle event for an unknown workflow or without a key; ignored', {
          messageId: message.messageId,
          workflow: name,
        });
        continue;
      }
      group(workflow, key).messageIds.add(message.messageId);
      continue;
    }
    const routing = await routeEvent(deps.definitions, raw);
    for (const rejection of routing.rejected)
      rejections.push({ rejection, raw, messageId: message.messageId });
    for (const routed of routing.routed) {
      const g = group(routed.workflow, routed.key);
      // Two copies of one event in a batch (at-least-once delivery) decide as one.
      if (!g.events.some((e) => e.id === routed.event.id)) g.events.push(routed.event);
      g.messageIds.add(message.messageId);
      messageOf.set(routed.event.id, message.messageId);
    }
  }
  return { groups, rejections, messageOf, early, dueBy: latest };
}

/**
 * Sorts a timer message: for a workflow these definitions lack, dropped with a warning;
 * more than {@link TIMER_EARLY_WAIT_MS} early, added to `early`; else due, and its
 * workflow is returned.
 */
function sortTimer(
  deps: IngestDeps,
  messageId: string,
  timer: TaskMessage,
  early: EarlyTimer[],
): Workflow | undefined {
  const workflow = deps.definitions.workflows.find((w) => w.name === timer.workflow);
  if (workflow === undefined) {
    deps.telemetry.warn('timer for a workflow these definitions lack; ignored', {
      messageId,
      workflow: timer.workflow,
    });
    return undefined;
  }
  if (timer.runAt - deps.clock() > TIMER_EARLY_WAIT_MS) {
    early.push({ messageId, message: timer });
    return undefined;
  }
  return workflow;
}

/** A timer that arrived more than {@link TIMER_EARLY_WAIT_MS} before it is due. */
interface EarlyTimer {
  readonly messageId: string;
  readonly message: TaskMessage;
}

/**
 * Sends early timers back to the ingest queue with the delay left (whole seconds, at most
 * 15 minutes: a schedule fires a few minutes early, and an SQS timer beyond 15 minutes is
 * sent in two legs). Returns the messages that could not be sent, to retry.
 */
async function requeueEarly(deps: IngestDeps, early: readonly EarlyTimer[]): Promise<string[]> {
  if (early.length === 0) return [];
  if (deps.timers === undefined) {
    deps.telemetry.error('a timer arrived early and ingest has no queue to send it back to', {
      count: early.length,
    });
    return early.map((e) => e.messageId);
  }
  const now = deps.clock();
  const sends = early.map((e) => ({
    queueUrl: deps.timers!.queueUrl,
    message: e.message,
    delaySeconds: delaySecondsFor(e.message.runAt, now),
  }));
  const unsent = new Set(await sendTimers(deps.timers.sqs, sends));
  return early.filter((_, i) => unsent.has(sends[i]!)).map((e) => e.messageId);
}

/** Waits until `dueBy` on the deps' clock, for timers that arrived a little early. */
async function waitUntil(deps: IngestDeps, dueBy: number): Promise<void> {
  const ms = dueBy - deps.clock();
  if (ms <= 0) return;
  const scale = deps.timers?.timeScale ?? 1;
  const sleep = deps.timers?.sleep ?? ((real: number) => new Promise((r) => setTimeout(r, real)));
  await sleep(Math.ceil(ms / scale) + 1);
}

/** What deciding one instance's events came to. */
interface GroupOutcome {
  readonly accepted: number;
  readonly duplicates: number;
  /** Events the decision itself rejected (written in its transaction). */
  readonly rejectedByDecision: number;
  /** Messages to return to the queue: the decision failed for a reason worth retrying. */
  readonly failed: readonly string[];
  /** Events to record as rejected: the decision failed for good. */
  readonly rejections: readonly PendingRejection[];
}

/**
 * Decides and commits one instance's events. A failure worth retrying returns its messages
 * to the queue; a permanent one (a definition that cannot replay the history, a decision
 * over DynamoDB's limits, a refused write) is recorded per event as a rejection with its
 * reason, where an operator will look, instead of looping the messages to the DLQ.
 */
async function commitGroup(
  deps: IngestDeps,
  g: Group,
  messageOf: ReadonlyMap<string, string>,
): Promise<GroupOutcome> {
  try {
    const { decision, attempts } = await decideAndCommit(deps, g.workflow, g.key, g.events);
    if (attempts > 1) deps.telemetry.count(Metric.conflicts, attempts - 1);
    let rejectedByDecision = 0;
    for (const command of decision.commands) {
      if (command.type === 'schedule-task')
        deps.telemetry.count(Metric.scheduled, 1, { taskType: command.task.taskType });
      else if (command.type === 'cancel-task') deps.telemetry.count(Metric.cancelled);
      else if (command.type === 'record-late-cancel') deps.telemetry.count(Metric.lateCancels);
      else if (command.type === 'reject-event') rejectedByDecision += 1;
    }
    return {
      accepted: decision.accepted.length,
      duplicates: decision.duplicates.length,
      rejectedByDecision,
      failed: [],
      rejections: [],
    };
  } catch (error) {
    const where = { workflow: g.workflow.name, key: g.key, error: (error as Error).message };
    const none = { accepted: 0, duplicates: 0, rejectedByDecision: 0 };
    if (!isPermanent(error)) {
      deps.telemetry.error('deciding failed; the messages return to the queue', where);
      return { ...none, failed: [...g.messageIds], rejections: [] };
    }
    const reason = `could not be applied to workflow '${g.workflow.name}' key '${g.key}': ${(error as Error)?.name ?? 'Error'}: ${(error as Error)?.message ?? String(error)}`;
    deps.telemetry.error('deciding failed for good; the events are recorded as rejected', where);
    const rejections: PendingRejection[] = g.events.map((event) => ({
      rejection: { eventId: event.id, workflow: g.workflow.name, reason },
      raw: event,
      messageId: messageOf.get(event.id) ?? '',
    }));
    // Only task outcomes (lifecycle events) for this instance: keep them as rejected rows
    // too, so the stalled instance is visible.
    if (g.events.length === 0) {
      for (const id of g.messageIds)
        rejections.push({
          rejection: { eventId: id, workflow: g.workflow.name, reason },
          raw: { lifecycleMessage: id },
          messageId: id,
        });
    }
    return { ...none, failed: [], rejections };
  }
}

/**
 * Ingests a batch of EventBridge events: routes each to its workflow instances, decides,
 * and commits per instance. Bad events become rejected-event rows with their reason,
 * never a failed batch; task lifecycle events (source `hourglass`) make their instance
 * apply the task's outcome, and due timers that need no worker make it decide (which fires
 * them); a timer that arrived early goes back to the queue with the delay left. Only transient errors (throttling, conflicts, service faults)
 * return messages as batch item failures; a permanent failure to decide is recorded as a
 * rejected-event row per event, with the error as its reason.
 */
export async function ingestBatch(
  deps: IngestDeps,
  messages: readonly IngestMessage[],
): Promise<IngestResult> {
  const { groups, rejections, messageOf, early, dueBy } = await groupMessages(deps, messages);

  const failed = new Set<string>(await requeueEarly(deps, early));
  await waitUntil(deps, dueBy);
  let accepted = 0;
  let duplicates = 0;
  let rejected = 0;
  const outcomes = await Promise.all(
    [...groups.values()].map((g) => commitGroup(deps, g, messageOf)),
  );
  for (const outcome of outcomes) {
    accepted += outcome.accepted;
    duplicates += outcome.duplicates;
    rejected += outcome.rejectedByDecision;
    for (const id of outcome.failed) failed.add(id);
    rejections.push(...outcome.rejections);
  }

  try {
    await putRejections(deps, rejections);
    rejected += rejections.length;
  } catch (error) {
    deps.telemetry.error('recording rejected events failed; the messages return to the queue', {
      error: (error as Error).message,
    });
    for (const r of rejections) failed.add(r.messageId);
  }
  for (const r of rejections)
    deps.telemetry.warn('event rejected', {
      eventId: r.rejection.eventId,
      workflow: r.rejection.workflow,
      reason: r.rejection.reason,
    });
  deps.telemetry.count(Metric.eventsAccepted, accepted);
  deps.telemetry.count(Metric.eventsRejected, rejected);
  deps.telemetry.count(Metric.duplicates, duplicates);
  return {
    batchItemFailures: [...failed].map((itemIdentifier) => ({ itemIdentifier })),
    accepted,
    duplicates,
    rejected,
  };
}
