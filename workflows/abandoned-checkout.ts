import { defineWorkflow } from '../shared/core';
import { CheckoutStarted, PaymentSucceeded } from './events';
import { sendCartReminder } from './task-types';

/** What J2 remembers per user: the carts checked out and not paid yet. */
export interface CheckoutContext {
  readonly openCarts: readonly string[];
}

const reminderInput = ({ context }: { context: CheckoutContext }) => ({
  cartIds: [...context.openCarts],
});

/**
 * J2: one reminder per user about abandoned checkouts, 20 minutes after the latest
 * checkout of a burst but never more than 60 minutes after its first; listing only the
 * carts still unpaid, and cancelled when the last one is paid.
 */
export const abandonedCheckout = defineWorkflow({
  name: 'abandoned-checkout',
  key: 'detail.userId',
  events: [CheckoutStarted, PaymentSucceeded],
  initial: 'shopping',
  context: { openCarts: [] } as CheckoutContext,
  states: {
    shopping: {
      on: {
        CheckoutStarted: {
          assign: ({ context, event }) => ({
            openCarts: context.openCarts.includes(event.detail.cartId)
              ? context.openCarts
              : [...context.openCarts, event.detail.cartId],
          }),
          schedule: {
            task: sendCartReminder,
            collapse: { debounce: { period: '20m', maxWait: '60m' } },
            input: reminderInput,
          },
        },
        PaymentSucceeded: [
          {
            guard: {
              name: 'no open cart left',
              test: ({ context, event }) =>
                context.openCarts.every((cart) => cart === event.detail.cartId),
            },
            assign: () => ({ openCarts: [] }),
            cancel: sendCartReminder,
          },
          {
            assign: ({ context, event }) => ({
              openCarts: context.openCarts.filter((cart) => cart !== event.detail.cartId),
            }),
            update: { task: sendCartReminder, input: reminderInput },
          },
        ],
      },
    },
  },
});
