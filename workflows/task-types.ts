import { defineTaskType } from '../shared/core';
import { marketingHours } from './journey-controls';

/** J1: the welcome discount code, 30 minutes after sign-up; worthless 2 hours after that. */
export const sendDiscountCode = defineTaskType({
  name: 'send-discount-code',
  deadline: '2h',
  retry: { maxAttempts: 3 },
});

/** J1: a reminder that the discount code is waiting, 3 days after it was sent. */
export const discountReminder = defineTaskType({ name: 'discount-reminder' });

/** J2: one reminder per user about the carts still open. */
export const sendCartReminder = defineTaskType({ name: 'send-cart-reminder' });

/** J3: background compression; slow, bulky and never urgent. */
export const compressImage = defineTaskType({
  name: 'compress-image',
  concurrency: 2,
  timeout: '60s',
  retry: { maxAttempts: 5, backoff: 'exponential', initial: '10s', max: '5m' },
});

/** J4: make a product visible at its publication time. */
export const publishProduct = defineTaskType({ name: 'publish-product' });

/** J4: take a discount off when it ends. */
export const endDiscount = defineTaskType({ name: 'end-discount' });

/** J5: mail a campaign to a group; pointless more than 6 hours late. */
export const sendGroupEmail = defineTaskType({
  name: 'send-group-email',
  timeout: '5m',
  deadline: '6h',
});

/**
 * J6: a trial mail: "your trial ends in 3 days", or a win-back offer the day after it
 * lapsed. Never sent at night: one due in the quiet hours waits for 08:00 in Paris (its
 * 12-hour deadline moving with it).
 */
export const sendTrialMail = defineTaskType({
  name: 'send-trial-mail',
  deadline: '12h',
  journey: { control: marketingHours, pastDeadline: 'run' },
});
