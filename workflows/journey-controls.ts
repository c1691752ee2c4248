import { defineJourneyControl } from '../shared/core';

/**
 * The shop's rule for mail to people: never at night in Paris, where the shop's customers
 * are. Every mailing task type says it obeys it (`journey: { control: marketingHours }`), so
 * no worker checks the clock itself.
 */
export const marketingHours = defineJourneyControl({
  name: 'marketing-hours',
  timeZone: 'Europe/Paris',
  quietHours: { from: '21:00', to: '08:00' },
});
