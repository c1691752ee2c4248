import { simulate } from './shared/core';
import definitions from './workflows';

const T0 = Date.parse('2026-11-02T09:00:00Z');
const ev = (id: string, dt: string, detail: object) => ({
  id,
  source: 'shop',
  'detail-type': dt,
  time: '2026-11-02T09:00:00.000Z',
  detail,
});
const e00 = ev('e00', 'ProductPublishScheduled', {
  productId: 'p0',
  publishAt: '2026-11-02T10:00:00.000Z',
});
const e01 = ev('e01', 'ProductPublishCancelled', { productId: 'p0' });
const e02 = ev('e02', 'ProductPublishScheduled', {
  productId: 'p0',
  publishAt: '2026-11-02T11:00:00.000Z',
});
for (const order of [
  [e00, e01, e02],
  [e02, e01, e00],
]) {
  const r = await simulate({
    definitions,
    events: order.map((event, i) => ({ event, arrivedAt: T0 + 600000 + i * 1000 })),
    until: T0 + 8 * 86400000,
  });
  console.log(JSON.stringify(r.tasks.map(({ timeline, ...t }) => t)), JSON.stringify(r.instances));
}
