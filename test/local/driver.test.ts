import { afterEach, describe, expect, it } from 'vitest';
import {
  type Driver,
  type DriverDeps,
  decideSkip,
  type Moment,
  startDriver,
} from '../../local/driver';

const DAY = 24 * 60 * 60_000;

/** A clock that moves only when told: by the test, or by the driver's jumps. */
function manualClock(start = 0) {
  let now = start;
  const jumps: number[] = [];
  return {
    now: () => now,
    skipTo(time: number) {
      if (time > now) {
        jumps.push(time);
        now = time;
      }
    },
    set(time: number) {
      now = time;
    },
    jumps,
  };
}

/** Resolves once `condition` holds, checking every few ms; fails after `timeoutMs` real ms. */
async function until(condition: () => boolean, what: string, timeoutMs = 5_000) {
  const started = performance.now();
  while (!condition()) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

let driver: Driver | undefined;
afterEach(async () => {
  await driver?.stop();
  driver = undefined;
});

function drive(overrides: Partial<DriverDeps> & Pick<DriverDeps, 'clock'>) {
  const errors: unknown[] = [];
  driver = startDriver({
    skipIdle: true,
    pollersQuietSince: () => true,
    knownMoments: () => [],
    readMoments: async () => [],
    paused: () => false,
    onError: (_where, error) => errors.push(error),
    quietWindowMs: 3,
    intervalMs: 1,
    ...overrides,
  });
  driver.setSkipLimit(5 * DAY);
  return { driver, errors };
}

describe('decideSkip', () => {
  const moment = (at: number): Moment => ({ at, what: `thing at ${at}` });

  it('jumps to the earliest moment still to come', () => {
    expect(decideSkip([moment(9_000), moment(5_000)], 1_000, Number.POSITIVE_INFINITY)).toEqual({
      skip: true,
      to: 5_000,
    });
  });

  it('never jumps past the limit', () => {
    expect(decideSkip([moment(9_000)], 1_000, 3_000)).toEqual({ skip: true, to: 3_000 });
  });

  it('holds while anything is due now, even when later moments are known', () => {
    expect(decideSkip([moment(9_000), moment(1_000)], 1_000, 20_000)).toEqual({
      skip: false,
      reason: 'due now: thing at 1000',
    });
  });

  it('jumps to the limit when it knows that nothing at all is coming', () => {
    expect(decideSkip([], 1_000, 20_000)).toEqual({ skip: true, to: 20_000 });
  });

  it('does not jump past a run time still ahead, and is not held by one already reached', () => {
    const runTime = (at: number): Moment => ({ at, what: 'a task falls due', onlyAhead: true });
    expect(decideSkip([runTime(4_000), moment(9_000)], 1_000, 20_000)).toEqual({
      skip: true,
      to: 4_000,
    });
    expect(decideSkip([runTime(500), moment(9_000)], 1_000, 20_000)).toEqual({
      skip: true,
      to: 9_000,
    });
  });

  it('holds when nothing is coming and there is no limit to jump to', () => {
    expect(decideSkip([], 1_000, Number.POSITIVE_INFINITY).skip).toBe(false);
  });
});

describe('the driver', () => {
  it('runs an action that fell due during a slow read instead of jumping past it', async () => {
    const clock = manualClock(0);
    let ranAt: number | null = null;
    drive({
      clock,
      // The read is slow: virtual time passes the action's moment while it is under way.
      readMoments: async () => {
        clock.set(1_500);
        await new Promise((r) => setTimeout(r, 5));
        return [];
      },
    });
    driver!.at(1_000, () => {
      ranAt = clock.now();
    });

    await until(() => ranAt !== null, 'the action to run');

    expect(ranAt).toBe(1_500);
    expect(clock.jumps).toEqual([]);
  });

  it('does not jump when the stored moments cannot be read', async () => {
    const clock = manualClock(0);
    const { errors } = drive({
      clock,
      readMoments: async () => {
        throw new Error('DynamoDB Local is restarting');
      },
    });

    await until(() => errors.length >= 3, 'several turns that could not read');

    expect(clock.now()).toBe(0);
    expect(clock.jumps).toEqual([]);
    expect(driver!.lastHold).toMatch(/could not read the stored moments: DynamoDB Local/);
  });

  it('does not jump past a stored moment that fell due during its own read', async () => {
    const clock = manualClock(0);
    drive({
      clock,
      knownMoments: () => [{ at: 10 * DAY, what: 'a far schedule' }],
      readMoments: async () => {
        clock.set(2_000);
        return [{ at: 1_000, what: 'a lost timer is swept' }];
      },
    });

    await until(() => driver!.lastHold !== null, 'a turn that holds');

    expect(driver!.lastHold).toBe('due now: a lost timer is swept');
    expect(clock.jumps).toEqual([]);
  });

  it('jumps to the next known moment when everything is quiet', async () => {
    const clock = manualClock(0);
    drive({ clock, knownMoments: () => [{ at: 60_000, what: 'a delayed message' }] });

    await until(() => clock.now() === 60_000, 'the jump');

    expect(clock.jumps).toEqual([60_000]);
  });

  it('leaves out the stored moments of a task type whose workers are down', async () => {
    const clock = manualClock(0);
    drive({
      clock,
      readMoments: async () => [
        { at: 0, what: 'a lost timer of a paused type', taskType: 'paused' },
        { at: 30_000, what: 'a lost timer', taskType: 'running' },
      ],
      paused: (taskType) => taskType === 'paused',
    });

    await until(() => clock.now() === 30_000, 'the jump');

    expect(clock.jumps).toEqual([30_000]);
  });

  it('counts an action under way as activity, so nothing jumps while it runs', async () => {
    const clock = manualClock(0);
    let finish: () => void = () => {};
    drive({ clock, knownMoments: () => [{ at: 60_000, what: 'a delayed message' }] });
    driver!.at(0, () => new Promise<void>((resolve) => (finish = resolve)));

    await new Promise((r) => setTimeout(r, 40));
    expect(driver!.quietSince(performance.now() - 10)).toBe(false);
    expect(clock.jumps).toEqual([]);
    finish();
    await until(() => clock.now() === 60_000, 'the jump after the action');
  });

  it('does not jump while a poller is busy', async () => {
    const clock = manualClock(0);
    let turns = 0;
    drive({
      clock,
      pollersQuietSince: () => {
        turns += 1;
        return false;
      },
      knownMoments: () => [{ at: 60_000, what: 'a delayed message' }],
    });

    await until(() => turns >= 5, 'several turns');

    expect(clock.jumps).toEqual([]);
  });

  it('does not jump when work started while the stored moments were read', async () => {
    const clock = manualClock(0);
    let busy = false;
    drive({
      clock,
      pollersQuietSince: () => !busy,
      knownMoments: () => [{ at: 60_000, what: 'a delayed message' }],
      readMoments: async () => {
        busy = true; // a poller picked up a message meanwhile
        return [];
      },
    });

    await until(() => busy, 'the read');
    await new Promise((r) => setTimeout(r, 30));

    expect(clock.jumps).toEqual([]);
  });
});
