/**
 * The local cloud's driver: it runs scheduled `at` actions when the virtual clock reaches
 * them, and, when idle skipping is on, jumps the clock over gaps in which nothing can
 * happen. A jump is the one thing here that can make every task late at once, so it is
 * taken only on positive knowledge: every source of work has reported when it will next
 * act, none of those moments has come yet, and nothing happened while they were gathered.
 * "Something is due now" and "I could not tell" both mean: do not jump.
 */

/** Something known to happen at a virtual moment, and what it is (for diagnostics). */
export interface Moment {
  /** Virtual epoch ms. */
  readonly at: number;
  /** What falls due then, e.g. "a message on hourglass-ingest becomes visible". */
  readonly what: string;
  /**
   * Counts only while still ahead: a moment a jump must not pass, but that holds nothing
   * once reached (a task's run time: its timer must be armed by then, and once it is, the
   * queue or the schedule reports its own moment).
   */
  readonly onlyAhead?: boolean;
  /** The task type it belongs to, when it can be paused by a worker outage. */
  readonly taskType?: string;
}

/** The verdict of {@link decideSkip}. */
export type SkipDecision =
  | { readonly skip: true; readonly to: number }
  | { readonly skip: false; readonly reason: string };

/**
 * May the clock jump from `now`, and to where? Pure. `moments` must be every moment known
 * to be coming (a moment at or before `now` is work due now, which blocks the jump);
 * `limit` caps the jump (the moment a caller waits for).
 *
 * @example
 * decideSkip([{ at: 5_000, what: 'a schedule fires' }], 1_000, Infinity) // { skip: true, to: 5_000 }
 */
export function decideSkip(moments: readonly Moment[], now: number, limit: number): SkipDecision {
  moments = moments.filter((m) => !m.onlyAhead || m.at > now);
  const dueNow = moments.find((m) => m.at <= now);
  if (dueNow !== undefined) return { skip: false, reason: `due now: ${dueNow.what}` };
  const next = moments.reduce((min, m) => Math.min(min, m.at), Number.POSITIVE_INFINITY);
  const to = Math.min(next, limit);
  if (!Number.isFinite(to)) return { skip: false, reason: 'nothing is coming and no limit is set' };
  if (to <= now) return { skip: false, reason: 'the limit is reached' };
  return { skip: true, to };
}

/** The clock the driver reads and moves. */
export interface DriverClock {
  /** Virtual epoch ms now. */
  now(): number;
  /** Jumps forward to `time`. */
  skipTo(time: number): void;
}

/** What the driver needs from the local cloud. */
export interface DriverDeps {
  readonly clock: DriverClock;
  /** Jump over idle gaps. */
  readonly skipIdle: boolean;
  /** True when every poller has polled empty and run nothing since real time `since`. */
  pollersQuietSince(since: number): boolean;
  /**
   * Moments known without I/O (queues, schedules, outages), read in the same tick as the
   * decision, so nothing can fall due between reading them and jumping.
   */
  knownMoments(now: number): Moment[];
  /** Moments that need a read (from the task rows). Throws when it cannot tell. */
  readMoments(): Promise<Moment[]>;
  /** True while a task type's workers are down: its moments wait for the outage's end. */
  paused(taskType: string): boolean;
  /** Where errors of actions and reads go. */
  onError(where: string, error: unknown): void;
  /** Real ms every source must stay quiet before the clock may jump. */
  readonly quietWindowMs: number;
  /** Real ms between the driver's turns. */
  readonly intervalMs: number;
}

/** A running driver. */
export interface Driver {
  /** Runs `action` when the virtual clock reaches `time`. */
  at(time: number, action: () => Promise<void> | void): void;
  /** Records that something happened now (an event sent, a timer fired). */
  touch(): void;
  /** True when nothing happened anywhere since real time `since` (performance.now). */
  quietSince(since: number): boolean;
  /** True when an action is waiting at or before `time`. */
  actionPendingBefore(time: number): boolean;
  /** Every moment known to be coming, the stored ones read unless nothing happened since the last read. Throws when it cannot tell. */
  moments(): Promise<Moment[]>;
  /** Jumps never go past this (settle sets it to its `until`). */
  setSkipLimit(limit: number): void;
  /** Why the last turn did not jump, for diagnostics. */
  readonly lastHold: string | null;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts the driver loop.
 *
 * Long because the driver is one loop over state its turns share (the actions waiting, the
 * last activity, the stored moments as last read), and a turn reads best as one sequence of
 * checks, each with its reason beside it.
 */
export function startDriver(deps: DriverDeps): Driver {
  const { clock } = deps;
  const actions: { time: number; action: () => Promise<void> | void }[] = [];
  let lastActivity = performance.now();
  let skipLimit = Number.POSITIVE_INFINITY;
  let lastHold: string | null = null;
  /** The stored moments as last read, and the real time of that read. */
  let stored: Moment[] | null = null;
  let storedAsOf = Number.NEGATIVE_INFINITY;
  let running = true;

  let acting = false;
  const quietSince = (since: number) =>
    !acting && since >= lastActivity && deps.pollersQuietSince(since);
  const active = (m: Moment) => m.taskType === undefined || !deps.paused(m.taskType);
  const knownNow = (): Moment[] => {
    const now = clock.now();
    return [
      ...actions.map((a) => ({ at: a.time, what: 'an action of the caller' })),
      ...deps.knownMoments(now),
    ];
  };

  /** The stored moments: as last read while nothing has happened since, or read afresh. */
  async function storedMoments(): Promise<Moment[]> {
    if (stored !== null && quietSince(storedAsOf)) return stored;
    const readAt = performance.now();
    stored = null;
    const fresh = await deps.readMoments();
    stored = fresh;
    storedAsOf = readAt;
    return fresh;
  }

  async function turn(): Promise<void> {
    const now = clock.now();
    const ready = actions.filter((a) => a.time <= now).sort((a, b) => a.time - b.time);
    if (ready.length > 0) {
      for (const a of ready) actions.splice(actions.indexOf(a), 1);
      acting = true;
      try {
        for (const a of ready) {
          try {
            await a.action();
          } catch (error) {
            deps.onError('driver', error);
          }
        }
      } finally {
        acting = false;
        lastActivity = performance.now();
      }
      return;
    }
    if (!deps.skipIdle) return;
    // Quiet for the whole window up to now: no handler ran, every poller polled empty.
    const since = performance.now() - deps.quietWindowMs;
    if (!quietSince(since)) return;
    let storedNow: Moment[];
    // Cheap checks first: a known moment already due holds the clock without any read.
    const dueNow = knownNow().find((m) => m.at <= clock.now());
    if (dueNow !== undefined) {
      lastHold = `due now: ${dueNow.what}`;
      return;
    }
    // The stored moments cost a query per index shard, and change only when something
    // happens: read them once per quiet spell, and again after any activity.
    try {
      storedNow = await storedMoments();
    } catch (error) {
      lastHold = `could not read the stored moments: ${(error as Error).message}`;
      deps.onError('driver', error);
      return;
    }
    // No await from here to the jump: the known moments, the clock and the quiet check are
    // one consistent picture, and a stored moment that fell due during the read above
    // counts as due now. The stored moments changed only if something ran since they were
    // read, which the quiet check sees.
    if (!quietSince(since)) return;
    const decision = decideSkip(
      [...knownNow(), ...storedNow.filter(active)],
      clock.now(),
      skipLimit,
    );
    if (decision.skip) {
      clock.skipTo(decision.to);
      lastActivity = performance.now();
      lastHold = null;
    } else {
      lastHold = decision.reason;
    }
  }

  const loop = (async () => {
    while (running) {
      try {
        await turn();
      } catch (error) {
        // A source that cannot say when it acts next holds the clock for this turn.
        lastHold = `a turn failed: ${(error as Error).message}`;
        deps.onError('driver', error);
      }
      await sleep(deps.intervalMs);
    }
  })();

  return {
    at(time, action) {
      actions.push({ time, action });
    },
    touch() {
      lastActivity = performance.now();
    },
    quietSince,
    actionPendingBefore: (time) => actions.some((a) => a.time <= time),
    async moments() {
      const storedNow = await storedMoments();
      return [...knownNow(), ...storedNow.filter(active)];
    },
    setSkipLimit(limit) {
      skipLimit = limit;
    },
    get lastHold() {
      return lastHold;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}
