import type { Driver } from './driver';

/**
 * Real ms every poller must stay quiet before time may jump. DynamoDB Local surfaces stream
 * records a little after the write, so a shorter window could skip past a pending record.
 */
export const QUIET_WINDOW_MS = 250;

/**
 * Waits until the local cloud has nothing left to do before `until` (virtual time): every
 * poller quiet, no caller action pending, no timer, schedule or outage end falling due, no
 * task due or running. Time skips ahead meanwhile (when skipping idle time is on). Throws,
 * naming what it was still waiting for, when that takes longer than `timeoutMs` of real
 * time.
 */
export async function settle(
  driver: Driver,
  ctx: {
    readonly skipIdle: boolean;
    /** True while a task is due (and its workers up) or running. */
    readonly workPending: (until: number) => Promise<boolean>;
  },
  settleOptions: { readonly until?: number; readonly timeoutMs?: number },
): Promise<void> {
  const { skipIdle, workPending } = ctx;
  const until = settleOptions.until ?? Number.POSITIVE_INFINITY;
  driver.setSkipLimit(until);
  const limit = settleOptions.timeoutMs ?? 120_000;
  const deadline = performance.now() + limit;
  let waitingFor = 'work in flight';
  while (performance.now() < deadline) {
    const since = performance.now();
    await new Promise((r) => setTimeout(r, QUIET_WINDOW_MS));
    if (!driver.quietSince(since)) continue;
    // Cheap, in-process checks first; the reads of the table only once they pass.
    if (driver.actionPendingBefore(until)) {
      waitingFor = 'actions of the caller';
      continue;
    }
    const moments = await driver.moments().catch(() => null);
    if (moments === null) continue;
    const now = Date.now();
    const coming = moments.find((m) => m.at <= until && (skipIdle || m.at <= now));
    if (coming !== undefined) {
      waitingFor = `${coming.what} at ${new Date(coming.at).toISOString()}`;
      continue;
    }
    if (await workPending(until)) {
      waitingFor = 'a task that is due or running';
      continue;
    }
    if (until !== Number.POSITIVE_INFINITY && now < until) {
      waitingFor = `the clock to reach ${new Date(until).toISOString()}`;
      continue;
    }
    if (driver.quietSince(since)) {
      driver.setSkipLimit(Number.POSITIVE_INFINITY);
      return;
    }
  }
  driver.setSkipLimit(Number.POSITIVE_INFINITY);
  throw new Error(
    `the local cloud did not settle within ${limit} ms real; it was waiting for ${waitingFor} (virtual time ${new Date(Date.now()).toISOString()})`,
  );
}
