/**
 * The local cloud's virtual clock. Everything in the local cloud's process reads time
 * through `Date.now()` — the handlers' runtime clock, fauxqs's delays and visibility
 * timeouts, our emulators — so the clock replaces `Date.now` while the cloud runs, and
 * puts it back on stop.
 *
 * Virtual time runs `scale` times faster than real time, and {@link VirtualClock.skipTo}
 * jumps over idle gaps (the local cloud calls it when nothing is in flight), so a three-day
 * wait costs nothing while leases and visibility timeouts stay safe in real terms.
 */
export interface VirtualClock {
  /** Virtual epoch ms now. */
  now(): number;
  /** How many virtual ms pass per real ms. */
  readonly scale: number;
  /** Jumps forward to `time` (never backwards). */
  skipTo(time: number): void;
  /** Total virtual ms skipped so far. */
  readonly skippedMs: number;
  /** Real ms that a virtual duration takes at this scale. */
  realMs(virtualMs: number): number;
  /** Puts the real `Date.now` back. */
  restore(): void;
}

/** Installs a virtual clock as `Date.now`, starting at `origin` (default: real now). */
export function installVirtualClock(
  options: { scale?: number; origin?: number } = {},
): VirtualClock {
  const scale = options.scale ?? 1;
  if (!(scale >= 1) || !Number.isFinite(scale)) {
    throw new Error(`the time scale must be a number ≥ 1, got ${options.scale}`);
  }
  const realNow = Date.now;
  const realStart = realNow();
  const origin = options.origin ?? realStart;
  let offset = 0;
  const now = () => origin + (realNow() - realStart) * scale + offset;
  Date.now = now;
  return {
    now,
    scale,
    skipTo(time: number) {
      const gap = time - now();
      if (gap > 0) offset += gap;
    },
    get skippedMs() {
      return offset;
    },
    realMs: (virtualMs: number) => virtualMs / scale,
    restore() {
      Date.now = realNow;
    },
  };
}
