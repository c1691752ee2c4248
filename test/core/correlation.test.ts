import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  check,
  defineEvent,
  defineHourglass,
  defineTaskType,
  defineWorkflow,
  routeEvent,
} from '../../shared/core';

const requestReview = defineTaskType({ name: 'request-review' });
const OrderDelivered = defineEvent({
  source: 'shop',
  detailType: 'OrderDelivered',
  schema: z.object({ userId: z.string(), orderId: z.string() }),
});
const OrderReturned = defineEvent({
  source: 'shop',
  detailType: 'OrderReturned',
  schema: z.object({ orderId: z.string(), buyerId: z.string() }),
});

/** A user-keyed workflow whose return event names the user `buyerId`, unless `keys` says nothing. */
const reviews = (keys?: { OrderReturned?: string }) =>
  defineWorkflow({
    name: 'reviews',
    key: 'detail.userId',
    ...(keys ? { keys } : {}),
    events: [OrderDelivered, OrderReturned],
    initial: 'waiting',
    states: {
      waiting: {
        on: {
          OrderDelivered: { schedule: { task: requestReview, after: '2d' } },
          OrderReturned: { cancel: requestReview },
        },
      },
    },
  });
const catalogue = (keys?: { OrderReturned?: string }) =>
  defineHourglass({ taskTypes: [requestReview], workflows: [reviews(keys)] });

describe('correlation per event', () => {
  it('reads the key from the path given for that event type', async () => {
    const returned = {
      id: 'r1',
      source: 'shop',
      'detail-type': 'OrderReturned',
      time: '2026-11-24T10:00:00Z',
      detail: { orderId: 'o1', buyerId: 'u1' },
    };
    const { routed, rejected } = await routeEvent(
      catalogue({ OrderReturned: 'detail.buyerId' }),
      returned,
    );
    expect(rejected).toEqual([]);
    expect(routed.map((r) => [r.workflow.name, r.key])).toEqual([['reviews', 'u1']]);
  });

  it('fails check when an event schema cannot supply the key, saying how to fix it', () => {
    expect(check(catalogue()).filter((f) => f.severity === 'error')).toEqual([
      expect.objectContaining({
        code: 'key-not-in-event',
        message: expect.stringContaining(
          "workflow 'reviews': event 'OrderReturned' has no detail.userId in its schema, and the workflow correlates on it, so every such event would be rejected; add keys: { OrderReturned: 'detail.<the field that holds the key>' }",
        ),
      }),
    ]);
    expect(check(catalogue({ OrderReturned: 'detail.buyerId' }))).toEqual([]);
  });

  it('refuses a key path for an event the workflow does not consume', () => {
    expect(() => catalogue({ Nope: 'detail.x' } as never)).toThrow(
      /keys names 'Nope', which is not one of its events \(OrderDelivered, OrderReturned\)/,
    );
  });
});
