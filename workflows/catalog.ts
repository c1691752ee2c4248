import { defineRule } from '../shared/core';
import {
  DiscountApplied,
  DiscountRemoved,
  ProductPublishCancelled,
  ProductPublishScheduled,
} from './events';
import { endDiscount, publishProduct } from './task-types';

/** J4: publish a product at `publishAt`; a new schedule replaces the pending one. */
export const productPublish = defineRule({
  name: 'product-publish',
  key: 'detail.productId',
  on: ProductPublishScheduled,
  schedule: { task: publishProduct, at: 'detail.publishAt', collapse: 'replace' },
  cancelOn: [ProductPublishCancelled],
});

/** J4: end a discount at `endsAt`, unless it was removed first. */
export const discountExpiry = defineRule({
  name: 'discount-expiry',
  key: 'detail.discountId',
  on: DiscountApplied,
  schedule: { task: endDiscount, at: 'detail.endsAt' },
  cancelOn: [DiscountRemoved],
});
