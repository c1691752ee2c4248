import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  decide,
  defineEvent,
  defineHourglass,
  defineWorkflow,
  MAX_EVENT_BYTES,
  newInstance,
  routeEvent,
} from '../../shared/core';
import definitions from '../../workflows';
import { at, days, shopEvent } from '../support/events';

describe('routeEvent', () => {
  it('routes an event to every workflow that consumes it, keyed by its key path', async () => {
    const event = shopEvent('UserRegistered', { userId: 'u1', email: 'u1@example.com' }, 0, 'e1');
    const { routed, rejected } = await routeEvent(definitions, event);

    expect(rejected).toEqual([]);
    expect(routed).toHaveLength(1);
    expect(routed[0]).toMatchObject({
      key: 'u1',
      event: {
        id: 'e1',
        source: 'shop',
        detailType: 'UserRegistered',
        time: Date.parse(event.time),
      },
    });
    expect(routed[0]?.workflow.name).toBe('welcome-discount');
  });

  it.each([
    ['a non-object', 'hello', '(no id)', 'an event must be a JSON object'],
    [
      'a missing id',
      { source: 'shop', 'detail-type': 'X', time: at(0), detail: {} },
      '(no id)',
      'id is missing: every event needs a unique id',
    ],
    [
      'a missing source',
      { id: 'x', 'detail-type': 'X', time: at(0), detail: {} },
      'x',
      'source is missing or not a string',
    ],
    [
      'a missing detail-type',
      { id: 'x', source: 'shop', time: at(0), detail: {} },
      'x',
      'detail-type is missing or not a string',
    ],
    [
      'a time without an offset',
      {
        id: 'x',
        source: 'shop',
        'detail-type': 'UserRegistered',
        time: '2026-11-02T09:00:00',
        detail: {},
      },
      'x',
      'time must be an ISO-8601 time with a UTC offset',
    ],
    [
      'a detail that is not an object',
      { id: 'x', source: 'shop', 'detail-type': 'UserRegistered', time: at(0), detail: 'hi' },
      'x',
      'detail must be a JSON object',
    ],
    [
      'an event no workflow consumes',
      { id: 'x', source: 'shop', 'detail-type': 'Nope', time: at(0), detail: {} },
      'x',
      "no workflow consumes 'Nope' from source 'shop'",
    ],
    [
      'a known detail-type from another source',
      { id: 'x', source: 'other', 'detail-type': 'UserRegistered', time: at(0), detail: {} },
      'x',
      "no workflow consumes 'UserRegistered' from source 'other'",
    ],
  ])('rejects %s with a reason naming the field', async (_, raw, eventId, reason) => {
    const { routed, rejected } = await routeEvent(definitions, raw);
    expect(routed).toEqual([]);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.eventId).toBe(eventId);
    expect(rejected[0]?.reason).toContain(reason);
  });

  it('rejects a detail that fails its schema, naming the path', async () => {
    const event = shopEvent('OrderPlaced', { userId: 'u1', orderId: 'o1', total: 'lots' });
    const { rejected } = await routeEvent(definitions, event);
    expect(rejected[0]?.reason).toMatch(
      /^invalid detail for 'OrderPlaced': detail\.total: .*number/,
    );
  });

  it('rejects an event whose correlation key is mistyped', async () => {
    const event = shopEvent('ImageDeleted', { imageId: 42 });
    const { rejected } = await routeEvent(definitions, event);
    expect(rejected[0]?.reason).toMatch(/detail\.imageId/);
  });

  it('rejects an unreadable absolute time, naming the field the workflow reads', async () => {
    const event = shopEvent('ProductPublishScheduled', {
      productId: 'p1',
      publishAt: 'next tuesday',
    });
    const { routed, rejected } = await routeEvent(definitions, event);
    expect(routed).toEqual([]);
    expect(rejected).toEqual([
      {
        eventId: event.id,
        workflow: 'product-publish',
        reason: expect.stringMatching(
          /^detail\.publishAt must be an ISO-8601 time with a UTC offset/,
        ),
      },
    ]);
  });

  it('rejects an event over the EventBridge size limit', async () => {
    const event = shopEvent('ImageUploaded', {
      imageId: 'i1',
      url: 'x'.repeat(MAX_EVENT_BYTES),
      bytes: 1,
    });
    const { rejected } = await routeEvent(definitions, event);
    expect(rejected[0]?.reason).toMatch(
      /^the event is \d+ bytes; EventBridge's limit is 262144 bytes$/,
    );
  });

  it('rejects a correlation key longer than 256 characters', async () => {
    const event = shopEvent('ImageDeleted', { imageId: 'i'.repeat(300) });
    const { rejected } = await routeEvent(definitions, event);
    expect(rejected[0]?.reason).toBe(
      'detail.imageId is 300 characters; a correlation key may have at most 256',
    );
  });

  it('accepts an absolute time with any offset', async () => {
    const event = shopEvent(
      'GroupEmailScheduled',
      { campaignId: 'c', groupId: 'g', sendAt: '2026-11-05T10:00:00+01:00' },
      days(0),
    );
    const { routed } = await routeEvent(definitions, event);
    expect(routed).toHaveLength(1);
  });
});

describe('an event type with a finer time in its detail', () => {
  const CheckoutStarted = defineEvent({
    source: 'pay',
    detailType: 'CheckoutStarted',
    schema: z.object({ cartId: z.string(), occurredAt: z.string().optional() }),
    timeField: 'detail.occurredAt',
  });
  const PaymentSucceeded = defineEvent({
    source: 'pay',
    detailType: 'PaymentSucceeded',
    schema: z.object({ cartId: z.string(), occurredAt: z.string().optional() }),
    timeField: 'detail.occurredAt',
  });
  const checkout = defineWorkflow({
    name: 'checkout',
    key: 'detail.cartId',
    events: [CheckoutStarted, PaymentSucceeded],
    initial: 'new',
    states: {
      new: { on: { CheckoutStarted: { target: 'open' }, PaymentSucceeded: { target: 'orphan' } } },
      open: { on: { PaymentSucceeded: { target: 'paid' } } },
      orphan: { on: { CheckoutStarted: { target: 'orphan' } } },
      paid: { final: true },
    },
  });
  const defs = defineHourglass({ taskTypes: [], workflows: [checkout] });
  // EventBridge's envelope time: both in the same whole second.
  const second = '2026-11-23T10:00:00Z';
  const raw = (id: string, detailType: string, occurredAt?: string) => ({
    id,
    source: 'pay',
    'detail-type': detailType,
    time: second,
    detail: { cartId: 'c1', ...(occurredAt ? { occurredAt } : {}) },
  });

  it('orders two events of one key in the same second by their own times, not their ids', async () => {
    // The payment's id sorts first; its own time is later.
    const started = await routeEvent(
      defs,
      raw('b-started', 'CheckoutStarted', '2026-11-23T10:00:00.100Z'),
    );
    const paid = await routeEvent(
      defs,
      raw('a-paid', 'PaymentSucceeded', '2026-11-23T10:00:00.900Z'),
    );
    const events = [paid.routed[0]!.event, started.routed[0]!.event];
    expect(events.map((e) => e.time)).toEqual([
      Date.parse('2026-11-23T10:00:00.900Z'),
      Date.parse('2026-11-23T10:00:00.100Z'),
    ]);

    const decision = decide(
      checkout,
      newInstance(checkout, 'c1'),
      events,
      [],
      Date.parse(second) + 1_000,
    );

    expect(decision.instance.state).toBe('paid');
  });

  it('falls back to the envelope time without the field, and rejects an unreadable one', async () => {
    const plain = await routeEvent(defs, raw('e1', 'CheckoutStarted'));
    expect(plain.routed[0]!.event.time).toBe(Date.parse(second));
    const bad = await routeEvent(defs, raw('e2', 'CheckoutStarted', 'yesterday'));
    expect(bad.routed).toEqual([]);
    expect(bad.rejected[0]!.reason).toMatch(/^detail\.occurredAt/);
  });

  it('refuses a time field outside the detail', () => {
    expect(() =>
      defineEvent({ source: 'pay', detailType: 'X', schema: z.object({}), timeField: 'time' }),
    ).toThrow('timeField must be a path into the detail such as "detail.occurredAt", got "time"');
  });
});
