import { describe, expect, it } from 'vitest';
import { influencesOn } from '../../shared/core/influences';
import { abandonedCheckout, productPublish, welcomeDiscount } from '../../workflows';

describe('what would cancel or change a pending task', () => {
  it('names the event that cancels J1’s discount code while the user is waiting for it', () => {
    expect(influencesOn(welcomeDiscount, 'waiting', 'send-discount-code')).toEqual([
      { trigger: 'OrderPlaced', effect: 'cancels', guarded: false, target: 'converted' },
    ]);
    // Once nudged, the code has been sent: nothing changes it any more.
    expect(influencesOn(welcomeDiscount, 'nudged', 'send-discount-code')).toEqual([]);
  });

  it('tells a guarded cancel from a move and an input update (J2’s debounced reminder)', () => {
    expect(influencesOn(abandonedCheckout, 'shopping', 'send-cart-reminder')).toEqual([
      { trigger: 'CheckoutStarted', effect: 'moves', guarded: false, target: 'shopping' },
      { trigger: 'PaymentSucceeded', effect: 'cancels', guarded: true, target: 'shopping' },
      {
        trigger: 'PaymentSucceeded',
        effect: 'updates its input',
        guarded: false,
        target: 'shopping',
      },
    ]);
  });

  it('shows a rule’s trigger replacing its pending task and its cancel event cancelling it', () => {
    expect(influencesOn(productPublish, 'idle', 'publish-product')).toEqual([
      { trigger: 'ProductPublishScheduled', effect: 'moves', guarded: false, target: 'idle' },
      { trigger: 'ProductPublishCancelled', effect: 'cancels', guarded: false, target: 'idle' },
    ]);
  });

  it('finds nothing for a state or task type the workflow does not have', () => {
    expect(influencesOn(welcomeDiscount, 'nowhere', 'send-discount-code')).toEqual([]);
    expect(influencesOn(welcomeDiscount, 'waiting', 'no-such-task')).toEqual([]);
  });
});
