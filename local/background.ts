import type { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SchedulerClient } from '@aws-sdk/client-scheduler';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { SWEEPER } from '../shared/aws/settings';
import type { StoreDeps } from '../shared/aws/store';
import { sweep } from '../shared/aws/sweeper';
import { memoryTelemetry } from '../shared/aws/telemetry';
import type { StoredSchedule } from './emulators/scheduler';
import { scheduleMoments } from './moments';
import { POLL_INTERVAL_MS } from './pollers';
import { BUS, GROUP, type LocalQueue } from './provision';
import { PumpMemory, pumpSchedules } from './schedule-pump';

/**
 * The local cloud's background loops, each as its AWS counterpart runs: the schedule pump
 * fires due schedules (EventBridge Scheduler), and the sweeper runs every 5 virtual minutes
 * (the deployed sweeper's schedule), never more often than once a real second.
 */

/** Virtual ms between the local sweeper's passes. */
const SWEEP_INTERVAL_MS = SWEEPER.intervalMinutes * 60_000;

/** What {@link startBackground} needs. */
export interface BackgroundContext {
  readonly scheduler: SchedulerClient;
  readonly schedules: ReadonlyMap<string, StoredSchedule>;
  readonly eventBridge: EventBridgeClient;
  readonly sqs: SQSClient;
  readonly storeDeps: StoreDeps;
  readonly taskQueues: Readonly<Record<string, LocalQueue>>;
  /** How much faster than real time the clock runs. */
  readonly scale: number;
  /** Schedules fire this much late (virtual ms), an injected fault. */
  readonly schedulerLateByMs?: number;
  /** Tells the clock's driver that work happened. */
  readonly touch: () => void;
  readonly report: (where: string) => (error: unknown) => void;
}

/** What the background loops did, and how to stop them. */
export interface Background {
  /** Schedules the pump fired into their targets, or dead-lettered. */
  readonly fired: { delivered: number; deadLettered: number };
  /** Tasks whose timer a schedule delivered (the Scheduler path). */
  readonly firedBySchedule: Set<string>;
  /** Tasks whose lost timer the sweeper re-sent. */
  readonly swept: string[];
  /** Finished tasks whose lost lifecycle event the sweeper published again. */
  readonly republished: string[];
  stop(): Promise<void>;
}

/** Sleeps that can all be ended at once. */
function sleeper() {
  const wakers = new Set<() => void>();
  return {
    pause: (ms: number) =>
      new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          wakers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        wakers.add(wake);
      }),
    wakeAll: () => {
      for (const wake of [...wakers]) wake();
    },
  };
}

/** Starts the schedule pump and the sweeper. */
export function startBackground(ctx: BackgroundContext): Background {
  const pumpMemory = new PumpMemory();
  const fired = { delivered: 0, deadLettered: 0 };
  const firedBySchedule = new Set<string>();
  const sweptTasks: string[] = [];
  const republishedTasks: string[] = [];
  let looping = true;
  // Sleeps end early on stop: at real time the sweeper sleeps 5 minutes between passes, and
  // a stop that waited for that would hang `npm run dev` on Ctrl-C.
  const { pause, wakeAll } = sleeper();
  const everyTurn = async (intervalMs: number, work: () => Promise<void>) => {
    while (looping) {
      await work();
      if (looping) await pause(intervalMs);
    }
  };
  const loops = [
    everyTurn(POLL_INTERVAL_MS, async () => {
      // A pass lists every schedule over the wire: run one only when one is due.
      const due = scheduleMoments(ctx.schedules, ctx.schedulerLateByMs ?? 0);
      if (!due.some((m) => m.at <= Date.now())) return;
      try {
        const pass = await pumpSchedules(
          {
            scheduler: ctx.scheduler,
            sqs: ctx.sqs,
            group: GROUP,
            clock: () => Date.now(),
            lateByMs: ctx.schedulerLateByMs,
            onFire: (_name, outcome, input) => {
              if (outcome !== 'skipped' && input)
                firedBySchedule.add((JSON.parse(input) as { taskId: string }).taskId);
            },
          },
          pumpMemory,
        );
        fired.delivered += pass.delivered;
        fired.deadLettered += pass.deadLettered;
        if (pass.delivered + pass.deadLettered > 0) ctx.touch();
      } catch (error) {
        ctx.report('scheduler-pump')(error);
      }
    }),
    everyTurn(Math.max(1_000, SWEEP_INTERVAL_MS / ctx.scale), async () => {
      try {
        const result = await sweep({
          ...ctx.storeDeps,
          sqs: ctx.sqs,
          eventBridge: ctx.eventBridge,
          busName: BUS,
          taskQueue: (t) => ctx.taskQueues[t]!,
          telemetry: memoryTelemetry().telemetry,
        });
        if (result.resent.length + result.republished.length > 0) {
          sweptTasks.push(...result.resent.map((t) => t.taskId));
          republishedTasks.push(...result.republished.map((t) => t.taskId));
          ctx.touch();
        }
      } catch (error) {
        ctx.report('sweeper')(error);
      }
    }),
  ];
  return {
    fired,
    firedBySchedule,
    swept: sweptTasks,
    republished: republishedTasks,
    stop: async () => {
      looping = false;
      wakeAll();
      await Promise.all(loops);
    },
  };
}
