import { defineEvent, defineHourglass, defineTaskType, defineWorkflow } from 'hourglass/core';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// zod/mini ships no messages: English ones, so a rejected event says what is wrong.
z.config(en());

/**
 * Two cron jobs of a subscription business, as Hourglass workflows, using only the public
 * entry points (`hourglass/core` here; `hourglass/aws`, `hourglass/infra` and
 * `hourglass/testing` beside it):
 *
 * - `trial`: remind 3 days before the trial ends and downgrade at its end, unless the
 *   account subscribed; a cancelled subscription ends it, and a new trial starts it over.
 * - `review-request`: ask for a review 2 days after delivery, unless the order was returned.
 */

const source = 'billing';
const instant = () => z.iso.datetime({ offset: true });

/** A trial began; it ends at `trialEndsAt`. */
export const TrialStarted = defineEvent({
  source,
  detailType: 'TrialStarted',
  schema: z.object({ accountId: z.string(), email: z.string(), trialEndsAt: instant() }),
});

/** The account paid: no reminder, no downgrade. */
export const SubscriptionPaid = defineEvent({
  source,
  detailType: 'SubscriptionPaid',
  schema: z.object({ accountId: z.string() }),
});

/** The account left. */
export const SubscriptionCancelled = defineEvent({
  source,
  detailType: 'SubscriptionCancelled',
  schema: z.object({ accountId: z.string() }),
});

/** An order reached its buyer. */
export const OrderDelivered = defineEvent({
  source: 'shipping',
  detailType: 'OrderDelivered',
  schema: z.object({ orderId: z.string(), email: z.string(), deliveredAt: instant() }),
});

/** The buyer sent the order back. */
export const OrderReturned = defineEvent({
  source: 'shipping',
  detailType: 'OrderReturned',
  schema: z.object({ orderId: z.string() }),
});

/** Mails "your trial ends in 3 days". */
export const remindTrialEnding = defineTaskType({ name: 'remind-trial-ending', timeout: '30s' });
/** Moves the account to the free plan; retried, since billing must not miss it. */
export const downgradeAccount = defineTaskType({
  name: 'downgrade-account',
  timeout: '1m',
  retry: { maxAttempts: 5 },
});
/** Mails "how was your order?". Worthless a week late: it expires instead. */
export const askForReview = defineTaskType({
  name: 'ask-for-review',
  timeout: '30s',
  deadline: '7d',
});

/** Remind 3 days before the trial ends, downgrade at its end, unless paid. */
export const trial = defineWorkflow({
  name: 'trial',
  key: 'detail.accountId',
  events: [TrialStarted, SubscriptionPaid, SubscriptionCancelled],
  initial: 'trialing',
  // An account that left may start a new trial: the journey starts over.
  startOverOn: [TrialStarted],
  states: {
    trialing: {
      on: {
        TrialStarted: {
          schedule: [
            { task: remindTrialEnding, at: 'detail.trialEndsAt', before: '3d' },
            { task: downgradeAccount, at: 'detail.trialEndsAt' },
          ],
        },
        SubscriptionPaid: { target: 'subscribed', cancel: [remindTrialEnding, downgradeAccount] },
        SubscriptionCancelled: { target: 'gone', cancel: [remindTrialEnding, downgradeAccount] },
      },
    },
    subscribed: { on: { SubscriptionCancelled: { target: 'gone' } } },
    gone: { final: true },
  },
});

/** Ask for a review 2 days after delivery, unless returned. */
export const reviewRequest = defineWorkflow({
  name: 'review-request',
  key: 'detail.orderId',
  events: [OrderDelivered, OrderReturned],
  initial: 'open',
  startOverOn: [], // an order is delivered once
  states: {
    open: {
      on: {
        OrderDelivered: {
          target: 'delivered',
          schedule: { task: askForReview, at: 'detail.deliveredAt', after: '2d' },
        },
        OrderReturned: { target: 'returned' },
      },
    },
    delivered: { on: { OrderReturned: { target: 'returned', cancel: askForReview } } },
    returned: { final: true },
  },
});

/** This app's definitions: what its tests, `hourglass dev` and its stack all read. */
export default defineHourglass({
  taskTypes: [remindTrialEnding, downgradeAccount, askForReview],
  workflows: [trial, reviewRequest],
  module: import.meta.url,
});
