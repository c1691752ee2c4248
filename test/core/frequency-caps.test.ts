import { describe, expect, it } from 'vitest';
import * as z from 'zod/mini';
import {
  capDecision,
  defineEvent,
  defineHourglass,
  defineJourneyControl,
  defineRule,
  defineTaskType,
} from '../../shared/core';
import { scenario } from '../../shared/core/testing';

/**
 * Frequency caps, a journey control: "at most 2 marketing messages per user per day, and 5
 * per week", counted across task types and workflows for one person. Over a cap, a task is
 * deferred to the first free slot or dropped, as its task type says, and its timeline says
 * why.
 */

const marketing = defineJourneyControl({
  name: 'marketing',
  caps: [
    { max: 2, per: '1d' },
    { max: 5, per: '7d' },
  ],
  key: 'detail.userId',
});
const Promoted = defineEvent({
  source: 'crm',
  detailType: 'Promoted',
  schema: z.object({ userId: z.string(), promoId: z.string() }),
});
const Abandoned = defineEvent({
  source: 'shop',
  detailType: 'Abandoned',
  schema: z.object({ userId: z.string(), cartId: z.string() }),
});
/** Worth sending later: deferred. */
const sendPromo = defineTaskType({ name: 'send-promo', journey: { control: marketing } });
/** Pointless later: dropped. */
const cartNudge = defineTaskType({
  name: 'cart-nudge',
  journey: { control: marketing, overCap: 'drop' },
});
// Two workflows with different keys: the caps count per user all the same.
const promos = defineRule({
  name: 'promos',
  key: 'detail.promoId',
  on: Promoted,
  schedule: { task: sendPromo },
});
const carts = defineRule({
  name: 'carts',
  key: 'detail.cartId',
  on: Abandoned,
  schedule: { task: cartNudge },
});
const definitions = defineHourglass({
  taskTypes: [sendPromo, cartNudge],
  workflows: [promos, carts],
});

describe('frequency caps', () => {
  it('defers the third message of a day to when the first leaves the 24-hour window', async () => {
    const s = scenario(definitions)
      .emit(Promoted, { userId: 'u1', promoId: 'p1' })
      .emit(Promoted, { userId: 'u1', promoId: 'p2' }, { at: '2h' })
      .emit(Promoted, { userId: 'u1', promoId: 'p3' }, { at: '3h' });
    const result = await s.run('3d');
    expect(result.tasksOf(sendPromo).map((t) => [t.key, t.dueAt, t.startedAt])).toEqual([
      ['p1', s.time('0s'), s.time('0s')],
      ['p2', s.time('2h'), s.time('2h')],
      ['p3', s.time('3h'), s.time('1d')],
    ]);
    expect(result.task(sendPromo, 'p3').timeline[1]?.cause).toBe(
      `deferred to ${s.time('1d')} by frequency cap 2 per 1d (journey control 'marketing')`,
    );
  });

  it('counts across task types and workflows, and drops a task whose type says so', async () => {
    const s = scenario(definitions)
      .emit(Promoted, { userId: 'u2', promoId: 'p1' })
      .emit(Promoted, { userId: 'u2', promoId: 'p2' }, { at: '1h' })
      .emit(Abandoned, { userId: 'u2', cartId: 'c1' }, { at: '2h' })
      .emit(Abandoned, { userId: 'u3', cartId: 'c2' }, { at: '2h' });
    const result = await s.run('1d');
    expect(result.task(cartNudge, 'c1')).toMatchObject({ status: 'EXPIRED', attempts: 0 });
    expect(result.task(cartNudge, 'c1').timeline.at(-1)?.cause).toBe(
      "dropped: over frequency cap 2 per 1d (journey control 'marketing')",
    );
    // Another user is not held back by u2.
    expect(result.task(cartNudge, 'c2')).toMatchObject({
      status: 'COMPLETED',
      startedAt: s.time('2h'),
    });
  });

  it('holds the weekly cap too: the sixth message of a week waits for the first to leave it', async () => {
    let s = scenario(definitions);
    // Two a day on Monday, Tuesday and Wednesday (the sixth is over 5 per 7d).
    for (const [i, day] of ['0d', '0d12h', '1d', '1d12h', '2d', '2d12h'].entries())
      s = s.emit(Promoted, { userId: 'u4', promoId: `p${i}` }, { at: day });
    const result = await s.run('10d');
    expect(result.task(sendPromo, 'p5').startedAt).toBe(s.time('7d'));
  });

  it('is a pure decision: allowed, or the first time every cap has room', () => {
    const h = 3_600_000;
    expect(capDecision(marketing, [0, 2 * h], 3 * h)).toEqual({
      allowed: false,
      freeAt: 24 * h,
      cap: '2 per 1d',
    });
    expect(capDecision(marketing, [0], 3 * h)).toEqual({ allowed: true });
    // A start recorded a moment after `now` (another worker's clock) counts as well.
    expect(capDecision(marketing, [3 * h + 5, 3 * h + 10], 3 * h)).toMatchObject({
      allowed: false,
      freeAt: 27 * h + 5,
    });
  });
});
