import { delaySecondsFor, sendTimers, type TaskMessage, type TimerSend } from './messages';
import type { WorkerDeps } from './worker';

/** How a worker batch sends messages back to its queue: early ones with a delay, handed-back ones at once. */

/**
 * Sends early messages back with their delays (computed now) and handed-back ones at once,
 * in batched requests: a batch of early messages costs one request, not one each. Returns
 * the messages whose send failed, as batch item failures, so they return to the queue and
 * are tried again.
 */
export async function sendAgain(
  deps: WorkerDeps,
  redelayed: readonly { messageId: string; message: TaskMessage; runAt: number }[],
  handedBack: readonly { messageId: string; timer: TimerSend }[],
): Promise<{ itemIdentifier: string }[]> {
  const now = deps.clock();
  const resends = [
    ...redelayed.map(({ messageId, message, runAt }) => ({
      messageId,
      timer: { queueUrl: deps.queueUrl, message, delaySeconds: delaySecondsFor(runAt, now) },
    })),
    ...handedBack,
  ];
  if (resends.length === 0) return [];
  const unsent = new Set(
    await sendTimers(
      deps.sqs,
      resends.map((r) => r.timer),
    ),
  );
  return resends.filter((r) => unsent.has(r.timer)).map((r) => ({ itemIdentifier: r.messageId }));
}

/** Real ms a batch gathers early messages before sending them back together. */
const REDELAY_GATHER_MS = 20;

/**
 * Gathers a batch's early messages and sends them back as soon as they have been read (a
 * short wait gathers those read together into one request), not after the batch's
 * handlers have run: a long attempt must not hold another task's timer back. `finish`
 * sends what is left and returns the messages whose send failed.
 */
export function gatherRedelays(deps: WorkerDeps) {
  let waiting: { messageId: string; message: TaskMessage; runAt: number }[] = [];
  const sending: Promise<{ itemIdentifier: string }[]>[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const due = waiting;
    waiting = [];
    if (due.length > 0) sending.push(sendAgain(deps, due, []));
  };
  return {
    add(messageId: string, message: TaskMessage, runAt: number) {
      waiting.push({ messageId, message, runAt });
      timer ??= setTimeout(flush, REDELAY_GATHER_MS);
    },
    async finish(): Promise<{ itemIdentifier: string }[]> {
      clearTimeout(timer);
      flush();
      return (await Promise.all(sending)).flat();
    },
  };
}
