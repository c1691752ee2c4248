import { z } from 'zod';
import { defineEvent } from '../shared/core';

/** Every example event comes from the shop. */
const source = 'shop';

/** A user signed up. Starts J1 `welcome-discount`. */
export const UserRegistered = defineEvent({
  source,
  detailType: 'UserRegistered',
  // A plain shape check: mail servers, not regexes, decide which addresses exist.
  schema: z.object({
    userId: z.string().min(1),
    email: z.string().regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address'),
  }),
});

/** A user bought something. Ends J1 `welcome-discount`. */
export const OrderPlaced = defineEvent({
  source,
  detailType: 'OrderPlaced',
  schema: z.object({ userId: z.string().min(1), orderId: z.string().min(1), total: z.number() }),
});

/** A user opened a checkout for a cart. J2 `abandoned-checkout`. */
export const CheckoutStarted = defineEvent({
  source,
  detailType: 'CheckoutStarted',
  schema: z.object({ userId: z.string().min(1), cartId: z.string().min(1) }),
});

/** A cart was paid. J2 `abandoned-checkout`. */
export const PaymentSucceeded = defineEvent({
  source,
  detailType: 'PaymentSucceeded',
  schema: z.object({ userId: z.string().min(1), cartId: z.string().min(1) }),
});

/** An image was uploaded. J3 `image-compression`. */
export const ImageUploaded = defineEvent({
  source,
  detailType: 'ImageUploaded',
  schema: z.object({
    imageId: z.string().min(1),
    url: z.string().min(1),
    bytes: z.number().int().nonnegative(),
  }),
});

/** An image was deleted. J3 `image-compression`. */
export const ImageDeleted = defineEvent({
  source,
  detailType: 'ImageDeleted',
  schema: z.object({ imageId: z.string().min(1) }),
});

/** A product is to go live at `publishAt`. J4 `product-publish`. */
export const ProductPublishScheduled = defineEvent({
  source,
  detailType: 'ProductPublishScheduled',
  schema: z.object({ productId: z.string().min(1), publishAt: z.string() }),
});

/** A planned publication was called off. J4 `product-publish`. */
export const ProductPublishCancelled = defineEvent({
  source,
  detailType: 'ProductPublishCancelled',
  schema: z.object({ productId: z.string().min(1) }),
});

/** A discount applies until `endsAt`. J4 `discount-expiry`. */
export const DiscountApplied = defineEvent({
  source,
  detailType: 'DiscountApplied',
  schema: z.object({
    productId: z.string().min(1),
    discountId: z.string().min(1),
    endsAt: z.string(),
  }),
});

/** A discount was taken off early. J4 `discount-expiry`. */
export const DiscountRemoved = defineEvent({
  source,
  detailType: 'DiscountRemoved',
  schema: z.object({ discountId: z.string().min(1) }),
});

/** A mail to a group is to go out at `sendAt`. J5 `campaign-mail`. */
export const GroupEmailScheduled = defineEvent({
  source,
  detailType: 'GroupEmailScheduled',
  schema: z.object({
    campaignId: z.string().min(1),
    groupId: z.string().min(1),
    sendAt: z.string(),
  }),
});

/** A campaign mail was called off. J5 `campaign-mail`. */
export const GroupEmailCancelled = defineEvent({
  source,
  detailType: 'GroupEmailCancelled',
  schema: z.object({ campaignId: z.string().min(1) }),
});
