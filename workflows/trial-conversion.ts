import { defineWorkflow } from '../shared/core';
import { SubscriptionStarted, TrialStarted } from './events';
import { sendTrialMail } from './task-types';

/**
 * J6: a 14-day free trial. Three days before it ends, mail the account; when it ends
 * without a subscription, the trial lapses on its own (a timer that needs no worker) and a
 * win-back offer goes out a day later; 30 days after that the account is closed for good.
 * A subscription at any point before then ends the journey and cancels any mail not sent.
 */
export const trialConversion = defineWorkflow({
  name: 'trial-conversion',
  key: 'detail.accountId',
  events: [TrialStarted, SubscriptionStarted],
  initial: 'new',
  // A trial happens once per account.
  startOverOn: [],
  states: {
    new: {
      on: {
        TrialStarted: {
          target: 'trialing',
          schedule: {
            task: sendTrialMail,
            after: '11d',
            input: ({ event }) => ({ kind: 'ending-soon', email: event.detail.email }),
          },
        },
      },
    },
    trialing: {
      on: { SubscriptionStarted: { target: 'subscribed', cancel: sendTrialMail } },
      after: {
        '14d': {
          target: 'lapsed',
          schedule: {
            task: sendTrialMail,
            after: '1d',
            collapse: 'per-trigger',
            input: () => ({ kind: 'win-back' }),
          },
        },
      },
    },
    lapsed: {
      on: { SubscriptionStarted: { target: 'subscribed', cancel: sendTrialMail } },
      // The win-back mail is long sent (or expired) by then; cancel it anyway, so that the
      // final state never leaves a task behind.
      after: { '30d': { target: 'closed', cancel: sendTrialMail } },
    },
    subscribed: { final: true },
    closed: { final: true },
  },
});
