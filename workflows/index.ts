import { defineHourglass } from '../shared/core';
import { abandonedCheckout } from './abandoned-checkout';
import { campaignMail } from './campaign-mail';
import { discountExpiry, productPublish } from './catalog';
import { imageCompression } from './image-compression';
import * as taskTypes from './task-types';
import { trialConversion } from './trial-conversion';
import { welcomeDiscount } from './welcome-discount';

export * from './events';
export * from './task-types';
export {
  abandonedCheckout,
  campaignMail,
  discountExpiry,
  imageCompression,
  productPublish,
  trialConversion,
  welcomeDiscount,
};

/** The example journeys J1–J6: what the demo runs, the tests hold and the stack deploys. */
const definitions = defineHourglass({
  taskTypes: Object.values(taskTypes),
  workflows: [
    welcomeDiscount,
    abandonedCheckout,
    imageCompression,
    productPublish,
    discountExpiry,
    campaignMail,
    trialConversion,
  ],
});

export default definitions;
