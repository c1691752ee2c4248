import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type SimulationInput,
  type SimulationResult,
  simulate,
  TERMINAL_STATUSES,
} from '../../shared/core';
import definitions from '../../workflows';
import { at, days, hours, minutes, type ShopEvent, T0 } from '../support/events';

const users = ['u0', 'u1', 'u2'];
const carts = ['c0', 'c1', 'c2', 'c3'];
const second = 1_000;
/** Raise for a deeper search: `PROPERTY_RUNS=5000 npx vitest run test/core/properties.test.ts`. */
const runs = Number(process.env.PROPERTY_RUNS ?? 500);

/** One journey event at a time in [T0, T0+10m), whose effects all fall due after T0+20m. */
const journeyEvent = fc.oneof(
  fc
    .record({ user: fc.constantFrom(...users) })
    .map(({ user }) => ['UserRegistered', { userId: user, email: `${user}@x.io` }] as const),
  fc
    .record({ user: fc.constantFrom(...users) })
    .map(({ user }) => ['OrderPlaced', { userId: user, orderId: 'o', total: 5 }] as const),
  fc
    .record({ user: fc.constantFrom(...users), cart: fc.constantFrom(...carts) })
    .map(({ user, cart }) => ['CheckoutStarted', { userId: user, cartId: cart }] as const),
  fc
    .record({ user: fc.constantFrom(...users), cart: fc.constantFrom(...carts) })
    .map(({ user, cart }) => ['PaymentSucceeded', { userId: user, cartId: cart }] as const),
  fc
    .record({ product: fc.constantFrom('p0', 'p1'), hoursAhead: fc.integer({ min: 1, max: 72 }) })
    .map(
      ({ product, hoursAhead }) =>
        [
          'ProductPublishScheduled',
          { productId: product, publishAt: at(hours(hoursAhead)) },
        ] as const,
    ),
  fc
    .constantFrom('p0', 'p1')
    .map((product) => ['ProductPublishCancelled', { productId: product }] as const),
  fc
    .record({ discount: fc.constantFrom('d0', 'd1'), hoursAhead: fc.integer({ min: 1, max: 72 }) })
    .map(
      ({ discount, hoursAhead }) =>
        [
          'DiscountApplied',
          { productId: 'p0', discountId: discount, endsAt: at(hours(hoursAhead)) },
        ] as const,
    ),
  fc
    .constantFrom('d0', 'd1')
    .map((discount) => ['DiscountRemoved', { discountId: discount }] as const),
  fc
    .record({ campaign: fc.constantFrom('m0', 'm1'), hoursAhead: fc.integer({ min: 1, max: 72 }) })
    .map(
      ({ campaign, hoursAhead }) =>
        [
          'GroupEmailScheduled',
          { campaignId: campaign, groupId: 'g', sendAt: at(hours(hoursAhead)) },
        ] as const,
    ),
  fc
    .constantFrom('m0', 'm1')
    .map((campaign) => ['GroupEmailCancelled', { campaignId: campaign }] as const),
);

const stream = fc
  .array(fc.tuple(journeyEvent, fc.integer({ min: 0, max: 599 })), { minLength: 1, maxLength: 25 })
  .map((items) =>
    items.map(
      ([[detailType, detail], seconds], i): ShopEvent => ({
        id: `e${String(i).padStart(2, '0')}`,
        source: 'shop',
        'detail-type': detailType,
        time: at(seconds * second),
        detail,
      }),
    ),
  );

/**
 * What must not depend on arrival order: every task's life and every instance's end state.
 * A task cancelled before it started is left out: out of order, an event can plan a task
 * that a late, earlier-timed event then makes moot (J2: a checkout after a payment emptied
 * the carts, then an older checkout arrives), and a row once written is cancelled, never
 * unwritten. It never ran, so to its user it is as if it had never been planned. A task that
 * ran, or is still pending, must be the same in both.
 */
function outcome(result: SimulationResult) {
  return {
    tasks: latestIncarnations(result.tasks)
      .filter((task) => !(task.status === 'CANCELLED' && task.attempts === 0))
      .map(({ timeline: _timeline, dueAt, input, finishedAt, ...task }) =>
        task.status === 'CANCELLED' ? task : { ...task, dueAt, input, finishedAt },
      )
      .sort((a, b) => (a.taskId < b.taskId ? -1 : 1)),
    instances: result.instances.sort((a, b) =>
      `${a.workflow}/${a.key}` < `${b.workflow}/${b.key}` ? -1 : 1,
    ),
    rejected: result.rejected.map((r) => r.eventId).sort(),
  };
}

/**
 * A task that history cancelled and a late, earlier-timed event revived keeps its CANCELLED
 * row and comes back as `<id>#r2`: what counts is each planned task's last incarnation.
 */
function latestIncarnations(tasks: SimulationResult['tasks']) {
  const latest = new Map<string, SimulationResult['tasks'][number]>();
  for (const task of tasks) {
    const planned = task.taskId.replace(/#r\d+$/, '');
    const known = latest.get(planned);
    if (known === undefined || task.taskId > known.taskId)
      latest.set(planned, { ...task, taskId: planned });
  }
  return [...latest.values()];
}

/** Delivers events one second apart from T0+10m, before anything they affect falls due. */
function deliver(events: readonly ShopEvent[]): SimulationInput[] {
  return events.map((event, i) => ({ event, arrivedAt: T0 + minutes(10) + i * second }));
}

describe('properties of the journeys', () => {
  it('gives the same tasks and states for any arrival order and any duplication of the events', async () => {
    await fc.assert(
      fc.asyncProperty(
        stream.chain((events) =>
          fc.tuple(
            fc.constant(events),
            fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }),
            fc.array(fc.tuple(fc.nat(events.length - 1), fc.nat(events.length)), { maxLength: 8 }),
          ),
        ),
        async ([events, shuffled, duplications]) => {
          const inTimeOrder = [...events].sort((a, b) =>
            a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1,
          );
          const arrivals = [...shuffled];
          for (const [which, where] of duplications) arrivals.splice(where, 0, events[which]!);
          const until = T0 + days(8);

          const expected = await simulate({ definitions, events: deliver(inTimeOrder), until });
          const actual = await simulate({ definitions, events: deliver(arrivals), until });

          expect(outcome(actual)).toEqual(outcome(expected));
        },
      ),
      { numRuns: runs },
    );
  });

  it('ends every task in exactly one terminal state, whatever arrives when and whatever fails', async () => {
    await fc.assert(
      fc.asyncProperty(
        stream,
        fc.array(fc.integer({ min: 0, max: hours(4) }), { minLength: 25, maxLength: 25 }),
        fc.record({ code: fc.nat(3), reminder: fc.nat(3), publish: fc.nat(3) }),
        fc.tuple(fc.integer({ min: 0, max: hours(2) }), fc.integer({ min: 1, max: hours(3) })),
        async (events, delays, failing, [downFrom, downFor]) => {
          const arrivals = events.map((event, i) => ({
            event,
            arrivedAt: Date.parse(event.time) + delays[i]!,
          }));
          const result = await simulate({
            definitions,
            events: arrivals,
            until: T0 + days(30),
            failures: {
              'send-discount-code': failing.code,
              'send-cart-reminder': failing.reminder,
              'publish-product': failing.publish,
            },
            outages: [
              { taskType: 'send-discount-code', from: T0 + downFrom, to: T0 + downFrom + downFor },
            ],
          });

          for (const task of result.tasks) {
            // State changes, leaving out notes such as "cancel too late", which record the
            // status the task already had.
            const changes = task.timeline.filter(
              (entry, i) => i === 0 || entry.status !== task.timeline[i - 1]!.status,
            );
            const terminal = changes.filter((entry) => TERMINAL_STATUSES.has(entry.status));
            expect(terminal).toHaveLength(1);
            expect(changes.at(-1)).toBe(terminal[0]);
            expect(
              task.timeline.every(
                (e) => !TERMINAL_STATUSES.has(e.status) || e.status === terminal[0]!.status,
              ),
            ).toBe(true);
            expect(task.status).toBe(terminal[0]?.status);
            expect(result.runs.filter((r) => r.taskId === task.taskId)).toHaveLength(task.attempts);
          }
          const completions = result.runs.filter((r) => r.succeeded).map((r) => r.taskId);
          expect(new Set(completions).size).toBe(completions.length);
        },
      ),
      { numRuns: runs },
    );
  });
});
