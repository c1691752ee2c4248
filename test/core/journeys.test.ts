import { describe, expect, it } from 'vitest';
import { type SimulationResult, simulate } from '../../shared/core';
import definitions from '../../workflows';
import { arriving, at, days, hours, inTimeOrder, minutes, shopEvent } from '../support/events';

const registered = (userId: string, offset = 0, id?: string) =>
  shopEvent('UserRegistered', { userId, email: `${userId}@example.com` }, offset, id);
const ordered = (userId: string, offset: number) =>
  shopEvent('OrderPlaced', { userId, orderId: `o-${userId}`, total: 42 }, offset);
const checkout = (userId: string, cartId: string, offset: number) =>
  shopEvent('CheckoutStarted', { userId, cartId }, offset);
const paid = (userId: string, cartId: string, offset: number) =>
  shopEvent('PaymentSucceeded', { userId, cartId }, offset);

const tasksOf = (result: SimulationResult, taskType: string, key?: string) =>
  result.tasks.filter((t) => t.taskType === taskType && (key === undefined || t.key === key));
const runsOf = (result: SimulationResult, taskType: string) =>
  result.runs.filter((r) => r.taskType === taskType);
const stateOf = (result: SimulationResult, workflow: string, key: string) =>
  result.instances.find((i) => i.workflow === workflow && i.key === key)?.state;

describe('the ten journey scenarios, through the simulator', () => {
  it('1: runs send-discount-code once for u1, 30 minutes after registration', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(registered('u1')),
      until: Date.parse(at(hours(2))),
    });

    expect(runsOf(result, 'send-discount-code')).toEqual([
      expect.objectContaining({
        attempt: 1,
        at: at(minutes(30)),
        idempotencyKey: 'welcome-discount#u1#send-discount-code#1:1',
      }),
    ]);
    expect(tasksOf(result, 'send-discount-code')).toEqual([
      expect.objectContaining({
        key: 'u1',
        status: 'COMPLETED',
        dueAt: at(minutes(30)),
        attempts: 1,
      }),
    ]);
    expect(stateOf(result, 'welcome-discount', 'u1')).toBe('nudged');
  });

  it('2: cancels the code when u2 orders within 30 minutes; nothing runs and u2 is converted', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(registered('u2'), ordered('u2', minutes(10))),
    });

    expect(result.runs).toEqual([]);
    expect(tasksOf(result, 'send-discount-code')).toEqual([
      expect.objectContaining({
        status: 'CANCELLED',
        finishedAt: at(minutes(10)),
        lateCancel: false,
      }),
    ]);
    expect(stateOf(result, 'welcome-discount', 'u2')).toBe('converted');
  });

  it('3: runs nothing when OrderPlaced(t0+5m) arrives before UserRegistered(t0)', async () => {
    const order = ordered('u3', minutes(5));
    const registration = registered('u3', 0);
    const result = await simulate({
      definitions,
      events: [arriving(order, minutes(5)), arriving(registration, minutes(6))],
    });

    expect(result.runs).toEqual([]);
    expect(tasksOf(result, 'send-discount-code').map((t) => t.status)).toEqual(['CANCELLED']);
    expect(stateOf(result, 'welcome-discount', 'u3')).toBe('converted');
  });

  it('4: makes one task and one run when UserRegistered(u4) is delivered three times', async () => {
    const once = registered('u4', 0, 'registration-u4');
    const result = await simulate({
      definitions,
      events: [arriving(once, 0), arriving(once, minutes(1)), arriving(once, minutes(2))],
      until: Date.parse(at(hours(2))),
    });

    expect(tasksOf(result, 'send-discount-code')).toHaveLength(1);
    expect(runsOf(result, 'send-discount-code')).toHaveLength(1);
    expect(result.rejected).toEqual([]);
  });

  it('5: sends one reminder at t0+32m listing c1, c2 and c3', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(
        checkout('u5', 'c1', 0),
        checkout('u5', 'c2', minutes(5)),
        checkout('u5', 'c3', minutes(12)),
      ),
    });

    expect(runsOf(result, 'send-cart-reminder')).toEqual([
      expect.objectContaining({ at: at(minutes(32)), input: { cartIds: ['c1', 'c2', 'c3'] } }),
    ]);
    expect(tasksOf(result, 'send-cart-reminder')).toHaveLength(1);
  });

  it('6: sends no reminder when c1, c2 and c3 are all paid before t0+32m', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(
        checkout('u6', 'c1', 0),
        checkout('u6', 'c2', minutes(5)),
        checkout('u6', 'c3', minutes(12)),
        paid('u6', 'c1', minutes(20)),
        paid('u6', 'c2', minutes(25)),
        paid('u6', 'c3', minutes(30)),
      ),
    });

    expect(result.runs).toEqual([]);
    expect(tasksOf(result, 'send-cart-reminder').map((t) => t.status)).toEqual(['CANCELLED']);
  });

  it('7a: cancels compress-image when the image is deleted before it runs', async () => {
    const uploaded = shopEvent(
      'ImageUploaded',
      { imageId: 'i1', url: 's3://b/i1.png', bytes: 1000 },
      0,
    );
    const deleted = shopEvent('ImageDeleted', { imageId: 'i1' }, 0);
    // Both arrive together, the deletion first in the batch: it precedes any claim.
    const result = await simulate({
      definitions,
      events: [arriving(uploaded, 0), arriving(deleted, 0)],
    });

    expect(result.runs).toEqual([]);
    expect(tasksOf(result, 'compress-image').map((t) => t.status)).toEqual(['CANCELLED']);
  });

  it('7b: completes compress-image on attempt 3 when its worker fails twice', async () => {
    const uploaded = shopEvent(
      'ImageUploaded',
      { imageId: 'i2', url: 's3://b/i2.png', bytes: 1000 },
      0,
    );
    const result = await simulate({
      definitions,
      events: inTimeOrder(uploaded),
      failures: { 'compress-image': 2 },
    });

    expect(runsOf(result, 'compress-image').map((r) => [r.attempt, r.succeeded, r.at])).toEqual([
      [1, false, at(0)],
      [2, false, at(10_000)],
      [3, true, at(30_000)],
    ]);
    expect(tasksOf(result, 'compress-image')).toEqual([
      expect.objectContaining({ status: 'COMPLETED', attempts: 3 }),
    ]);
  });

  it('8: publishes once, at +3 days, when a second schedule replaces the first', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(
        shopEvent('ProductPublishScheduled', { productId: 'p1', publishAt: at(days(2)) }, 0),
        shopEvent(
          'ProductPublishScheduled',
          { productId: 'p1', publishAt: at(days(3)) },
          minutes(1),
        ),
      ),
    });

    expect(runsOf(result, 'publish-product')).toEqual([
      expect.objectContaining({ at: at(days(3)) }),
    ]);
    expect(tasksOf(result, 'publish-product')).toHaveLength(1);
  });

  it('9: sends a group email at +3 days', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(
        shopEvent(
          'GroupEmailScheduled',
          { campaignId: 'cmp1', groupId: 'g1', sendAt: at(days(3)) },
          0,
        ),
      ),
    });

    expect(runsOf(result, 'send-group-email')).toEqual([
      expect.objectContaining({ at: at(days(3)) }),
    ]);
    expect(tasksOf(result, 'send-group-email')).toEqual([
      expect.objectContaining({ status: 'COMPLETED', dueAt: at(days(3)) }),
    ]);
  });

  it('10: expires send-discount-code, never run, when its workers are down past the deadline', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(registered('u10')),
      outages: [
        { taskType: 'send-discount-code', from: Date.parse(at(0)), to: Date.parse(at(hours(3))) },
      ],
    });

    expect(runsOf(result, 'send-discount-code')).toEqual([]);
    expect(tasksOf(result, 'send-discount-code')).toEqual([
      expect.objectContaining({
        status: 'EXPIRED',
        finishedAt: at(minutes(30) + hours(2)),
        attempts: 0,
      }),
    ]);
    expect(stateOf(result, 'welcome-discount', 'u10')).toBe('waiting');
  });
});
