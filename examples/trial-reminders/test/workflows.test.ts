import { check } from 'hourglass/core';
import { scenario } from 'hourglass/testing';
import { describe, expect, it } from 'vitest';
import definitions, {
  askForReview,
  downgradeAccount,
  OrderDelivered,
  OrderReturned,
  remindTrialEnding,
  SubscriptionCancelled,
  SubscriptionPaid,
  TrialStarted,
} from '../workflows';

const START = '2026-03-01T09:00:00.000Z';
const trialEndsAt = '2026-03-15T09:00:00.000Z';
const started = { accountId: 'a1', email: 'ada@example.com', trialEndsAt };

describe('the trial workflow', () => {
  it('reminds 3 days before the trial ends and downgrades at its end', async () => {
    const s = scenario(definitions, { start: START }).emit(TrialStarted, started);
    const result = await s.run();
    expect(result.task(remindTrialEnding, 'a1')).toMatchObject({
      status: 'COMPLETED',
      dueAt: '2026-03-12T09:00:00.000Z',
      startedAt: '2026-03-12T09:00:00.000Z',
    });
    expect(result.task(downgradeAccount, 'a1')).toMatchObject({
      status: 'COMPLETED',
      startedAt: trialEndsAt,
    });
  });

  it('neither reminds nor downgrades an account that paid in time', async () => {
    const result = await scenario(definitions, { start: START })
      .emit(TrialStarted, started)
      .emit(SubscriptionPaid, { accountId: 'a1' }, { at: '5d' })
      .run();
    expect(result.tasks.map((t) => [t.taskType, t.status])).toEqual([
      ['remind-trial-ending', 'CANCELLED'],
      ['downgrade-account', 'CANCELLED'],
    ]);
    expect(result.instance('trial', 'a1').state).toBe('subscribed');
  });

  it('still downgrades, and records the late cancel, when the payment arrives after the reminder ran', async () => {
    // Paid on day 10; the event reaches Hourglass on day 12, after the day-11 reminder.
    const s = scenario(definitions, { start: START })
      .emit(TrialStarted, started)
      .emit(SubscriptionPaid, { accountId: 'a1' }, { at: '10d', arrives: '12d' });
    const result = await s.run();
    expect(result.task(remindTrialEnding, 'a1')).toMatchObject({
      status: 'COMPLETED',
      startedAt: s.time('11d'),
      lateCancel: true,
    });
    expect(result.task(downgradeAccount, 'a1').status).toBe('CANCELLED');
  });

  it('starts over when an account that left starts a new trial', async () => {
    const s = scenario(definitions, { start: START })
      .emit(TrialStarted, started)
      .emit(SubscriptionPaid, { accountId: 'a1' }, { at: '5d' })
      .emit(SubscriptionCancelled, { accountId: 'a1' }, { at: '40d' })
      .emit(TrialStarted, { ...started, trialEndsAt: '2026-06-23T09:00:00.000Z' }, { at: '100d' });
    const result = await s.run();
    expect(result.tasksOf(remindTrialEnding, 'a1').map((t) => [t.status, t.startedAt])).toEqual([
      ['CANCELLED', null],
      ['COMPLETED', '2026-06-20T09:00:00.000Z'],
    ]);
    expect(result.instance('trial', 'a1').state).toBe('trialing');
  });

  it('retries a failed downgrade on the task type’s backoff', async () => {
    const result = await scenario(definitions, { start: START })
      .emit(TrialStarted, started)
      .failing(downgradeAccount, 2)
      .run();
    expect(result.task(downgradeAccount, 'a1')).toMatchObject({ status: 'COMPLETED', attempts: 3 });
  });
});

describe('the review-request workflow', () => {
  const delivered = { orderId: 'o1', email: 'ada@example.com', deliveredAt: START };

  it('asks for a review 2 days after delivery', async () => {
    const s = scenario(definitions, { start: START }).emit(OrderDelivered, delivered);
    const result = await s.run();
    expect(result.task(askForReview, 'o1')).toMatchObject({
      status: 'COMPLETED',
      startedAt: s.time('2d'),
    });
  });

  it('does not ask when the return was made first, even if it arrives before the delivery', async () => {
    const result = await scenario(definitions, { start: START })
      .emit(OrderReturned, { orderId: 'o1' }, { at: '1d', arrives: '1d' })
      .emit(OrderDelivered, delivered, { at: '0s', arrives: '1d1h' })
      .run();
    expect(result.tasksOf(askForReview, 'o1').map((t) => t.status)).toEqual(['CANCELLED']);
    expect(result.instance('review-request', 'o1').state).toBe('returned');
  });

  it('lets the review request expire when the workers are down past its 7-day deadline', async () => {
    const result = await scenario(definitions, { start: START })
      .emit(OrderDelivered, delivered)
      .workersDown(askForReview, { from: '1d', to: '10d' })
      .run();
    expect(result.task(askForReview, 'o1').status).toBe('EXPIRED');
  });
});

describe('hourglass check', () => {
  it('finds nothing wrong with the app’s definitions', () => {
    expect(check(definitions)).toEqual([]);
  });
});
