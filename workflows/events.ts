import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { defineEvent } from '../shared/core';

// The schemas use zod/mini, whose functions tree-shake: the ingest bundle carries about 40 KB
// of it instead of full zod's 440 KB. Any Standard Schema library works (full zod, valibot,
// arktype); the choice only shows in the ingest function's size and start-up time.

// zod/mini loads no messages of its own: English ones, so a rejected event says what is wrong.
z.config(en());

/** Every example event comes from the shop. */
const source = 'shop';

/** A non-empty string. */
const id = () => z.string().check(z.minLength(1));

/** A user signed up. Starts J1 `welcome-discount`. */
export const UserRegistered = defineEvent({
  source,
  detailType: 'UserRegistered',
  // A plain shape check: mail servers, not regexes, decide which addresses exist.
  schema: z.object({
    userId: id(),
    email: z.string().check(z.regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address')),
  }),
});

/** A user bought something. Ends J1 `welcome-discount`. */
export const OrderPlaced = defineEvent({
  source,
  detailType: 'OrderPlaced',
  schema: z.object({ userId: id(), orderId: id(), total: z.number() }),
});

/** A user opened a checkout for a cart. J2 `abandoned-checkout`. */
export const CheckoutStarted = defineEvent({
  source,
  detailType: 'CheckoutStarted',
  schema: z.object({ userId: id(), cartId: id() }),
});

/** A cart was paid. J2 `abandoned-checkout`. */
export const PaymentSucceeded = defineEvent({
  source,
  detailType: 'PaymentSucceeded',
  schema: z.object({ userId: id(), cartId: id() }),
});

/** An image was uploaded. J3 `image-compression`. */
export const ImageUploaded = defineEvent({
  source,
  detailType: 'ImageUploaded',
  schema: z.object({
    imageId: id(),
    url: id(),
    bytes: z.int().check(z.nonnegative()),
  }),
});

/** An image was deleted. J3 `image-compression`. */
export const ImageDeleted = defineEvent({
  source,
  detailType: 'ImageDeleted',
  schema: z.object({ imageId: id() }),
});

/** A product is to go live at `publishAt`. J4 `product-publish`. */
export const ProductPublishScheduled = defineEvent({
  source,
  detailType: 'ProductPublishScheduled',
  schema: z.object({ productId: id(), publishAt: z.string() }),
});

/** A planned publication was called off. J4 `product-publish`. */
export const ProductPublishCancelled = defineEvent({
  source,
  detailType: 'ProductPublishCancelled',
  schema: z.object({ productId: id() }),
});

/** A discount applies until `endsAt`. J4 `discount-expiry`. */
export const DiscountApplied = defineEvent({
  source,
  detailType: 'DiscountApplied',
  schema: z.object({
    productId: id(),
    discountId: id(),
    endsAt: z.string(),
  }),
});

/** A discount was taken off early. J4 `discount-expiry`. */
export const DiscountRemoved = defineEvent({
  source,
  detailType: 'DiscountRemoved',
  schema: z.object({ discountId: id() }),
});

/** A mail to a group is to go out at `sendAt`. J5 `campaign-mail`. */
export const GroupEmailScheduled = defineEvent({
  source,
  detailType: 'GroupEmailScheduled',
  schema: z.object({
    campaignId: id(),
    groupId: id(),
    sendAt: z.string(),
  }),
});

/** A campaign mail was called off. J5 `campaign-mail`. */
export const GroupEmailCancelled = defineEvent({
  source,
  detailType: 'GroupEmailCancelled',
  schema: z.object({ campaignId: id() }),
});

/** An account started its 14-day free trial. J6 `trial-conversion`. */
export const TrialStarted = defineEvent({
  source,
  detailType: 'TrialStarted',
  schema: z.object({
    accountId: id(),
    email: z.string().check(z.regex(/^[^@\s]+@[^@\s]+$/, 'must be an email address')),
  }),
});

/** An account started a paid plan. J6 `trial-conversion`. */
export const SubscriptionStarted = defineEvent({
  source,
  detailType: 'SubscriptionStarted',
  schema: z.object({ accountId: id(), plan: id() }),
});
