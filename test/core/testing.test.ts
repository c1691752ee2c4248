import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineEvent, defineHourglass, defineTaskType, defineWorkflow } from '../../shared/core';
import { scenario } from '../../shared/core/testing';

// A user's own workflow: remind 3 days before the trial ends, downgrade at its end, unless paid.
const TrialStarted = defineEvent({
  source: 'billing',
  detailType: 'TrialStarted',
  schema: z.object({ accountId: z.string(), trialEndsAt: z.string() }),
});
const SubscriptionPaid = defineEvent({
  source: 'billing',
  detailType: 'SubscriptionPaid',
  schema: z.object({ accountId: z.string() }),
});
const remind = defineTaskType({ name: 'remind-trial-ending' });
const downgrade = defineTaskType({ name: 'downgrade-account', retry: { maxAttempts: 3 } });
const trial = defineWorkflow({
  name: 'trial',
  key: 'detail.accountId',
  events: [TrialStarted, SubscriptionPaid],
  initial: 'trialing',
  states: {
    trialing: {
      on: {
        TrialStarted: {
          schedule: [
            { task: remind, at: 'detail.trialEndsAt', before: '3d' },
            { task: downgrade, at: 'detail.trialEndsAt' },
          ],
        },
        SubscriptionPaid: { target: 'paid', cancel: [remind, downgrade] },
      },
    },
    paid: { final: true },
  },
});
const definitions = defineHourglass({ taskTypes: [remind, downgrade], workflows: [trial] });
const START = '2026-03-01T09:00:00.000Z';
const ENDS = '2026-03-15T09:00:00.000Z';

describe('scenario, the testing helper', () => {
  it('runs a scenario on a virtual clock and says when each task started against when it was due', async () => {
    const s = scenario(definitions, { start: START }).emit(TrialStarted, {
      accountId: 'a1',
      trialEndsAt: ENDS,
    });
    const result = await s.run();
    expect(s.time('11d')).toBe('2026-03-12T09:00:00.000Z');
    expect(result.task(remind, 'a1')).toMatchObject({
      status: 'COMPLETED',
      dueAt: s.time('11d'),
      startedAt: s.time('11d'),
    });
    expect(result.task(downgrade, 'a1')).toMatchObject({ status: 'COMPLETED', dueAt: ENDS });
    expect(result.instance(trial, 'a1').state).toBe('trialing');
  });

  it('cancels what a payment made in time cancels, and marks a payment delivered after the task started as a late cancel', async () => {
    const s = scenario(definitions, { start: START })
      .emit(TrialStarted, { accountId: 'a1', trialEndsAt: ENDS })
      // Paid before the reminder was due, but delivered a day after it ran: the race.
      .emit(SubscriptionPaid, { accountId: 'a1' }, { at: '10d', arrives: '12d' });
    const result = await s.run();
    expect(result.task(remind, 'a1')).toMatchObject({ status: 'COMPLETED', lateCancel: true });
    expect(result.task(downgrade, 'a1').status).toBe('CANCELLED');
    expect(result.instance(trial, 'a1').state).toBe('paid');
  });

  it('applies an event that arrives before the task it cancels exists, in event-time order', async () => {
    const s = scenario(definitions, { start: START })
      // The payment happened after the trial started, but reaches Hourglass first.
      .emit(SubscriptionPaid, { accountId: 'a1' }, { at: '1h', arrives: '1h' })
      .emit(TrialStarted, { accountId: 'a1', trialEndsAt: ENDS }, { at: '0s', arrives: '2h' });
    const result = await s.run();
    expect(result.tasksOf(remind, 'a1').every((t) => t.status === 'CANCELLED')).toBe(true);
    expect(result.tasksOf(downgrade, 'a1').every((t) => t.status === 'CANCELLED')).toBe(true);
    expect(result.runs).toEqual([]);
    expect(result.instance(trial, 'a1').state).toBe('paid');
  });

  it('fails attempts and takes workers down as asked, and retries on the task type’s backoff', async () => {
    const s = scenario(definitions, { start: START })
      .emit(TrialStarted, { accountId: 'a1', trialEndsAt: ENDS })
      .failing(downgrade, 1)
      .workersDown(remind, { from: '10d', to: '11d1h' });
    const result = await s.run();
    const reminded = result.task(remind, 'a1');
    expect(reminded.startedAt).toBe(s.time('11d1h'));
    const downgraded = result.task(downgrade, 'a1');
    expect(downgraded).toMatchObject({ status: 'COMPLETED', attempts: 2 });
    expect(Date.parse(downgraded.finishedAt!)).toBeGreaterThan(Date.parse(ENDS));
  });

  it('shows a detail the schema refuses as rejected, as the deployed ingest would', async () => {
    const result = await scenario(definitions)
      .emit(TrialStarted, { accountId: 'a1', trialEndsAt: 'next tuesday' })
      .run();
    expect(result.rejected).toEqual([
      { eventId: 'e1', reason: expect.stringContaining('trialEndsAt') },
    ]);
    expect(result.tasks).toEqual([]);
  });

  it('says which tasks there were when a finder finds none, or more than one', async () => {
    const result = await scenario(definitions, { start: START })
      .emit(TrialStarted, { accountId: 'a1', trialEndsAt: ENDS })
      .run();
    expect(() => result.task(remind, 'a2')).toThrow(
      "expected one 'remind-trial-ending' task for key 'a2', found 0; the tasks were: remind-trial-ending for 'a1' COMPLETED due 2026-03-12T09:00:00.000Z",
    );
    expect(() => result.instance('trial', 'a2')).toThrow(
      "no instance of 'trial' for key 'a2'; the instances were: trial/a1 (trialing)",
    );
  });
});
