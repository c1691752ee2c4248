import { defineWorkflow } from '../shared/core';
import { OrderPlaced, UserRegistered } from './events';
import { discountReminder, sendDiscountCode } from './task-types';

/**
 * J1: 30 minutes after sign-up, send a discount code unless the user ordered; 3 days
 * after it was sent, remind them unless they ordered since.
 */
export const welcomeDiscount = defineWorkflow({
  name: 'welcome-discount',
  key: 'detail.userId',
  events: [UserRegistered, OrderPlaced],
  initial: 'new',
  // A user registers once: a second UserRegistered for the same user changes nothing.
  startOverOn: [],
  states: {
    new: {
      on: {
        UserRegistered: { target: 'waiting', schedule: { task: sendDiscountCode, after: '30m' } },
      },
    },
    waiting: {
      on: {
        OrderPlaced: { target: 'converted', cancel: sendDiscountCode },
        'send-discount-code.completed': {
          target: 'nudged',
          schedule: { task: discountReminder, after: '3d' },
        },
      },
    },
    nudged: {
      on: {
        OrderPlaced: { target: 'converted', cancel: discountReminder },
        'discount-reminder.completed': { target: 'done' },
      },
    },
    converted: { final: true },
    done: { final: true },
  },
});
