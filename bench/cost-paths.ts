/** The paths `npm run bench:cost` prices: what happens to one item, and how it must end. */

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** One event of a path, `at` ms after the item starts. */
export interface PathEvent {
  readonly at: number;
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
}

/** A path through Hourglass, priced per unit. */
export interface CostPath {
  readonly id: string;
  readonly name: string;
  readonly unit: 'task' | 'journey' | 'event';
  /** The events of item `key`, which starts at `t0`. */
  events(key: string, t0: number): PathEvent[];
  /** How long after its start an item is surely finished. */
  readonly lastsMs: number;
  /** The statuses each item's tasks must end in, in creation order. */
  readonly outcome: readonly string[];
}

const publish = (key: string, publishAt: number): PathEvent => ({
  at: 0,
  detailType: 'ProductPublishScheduled',
  detail: { productId: key, publishAt: new Date(publishAt).toISOString() },
});
const cancelPublish = (key: string, at: number): PathEvent => ({
  at,
  detailType: 'ProductPublishCancelled',
  detail: { productId: key },
});

export const PATHS: readonly CostPath[] = [
  {
    id: 'a',
    name: 'a task delayed 30 minutes that runs',
    unit: 'task',
    events: (key, t0) => [publish(key, t0 + 30 * MINUTE)],
    lastsMs: 33 * MINUTE,
    outcome: ['COMPLETED'],
  },
  {
    id: 'b',
    name: 'a task delayed 3 days that runs',
    unit: 'task',
    events: (key, t0) => [publish(key, t0 + 3 * DAY)],
    lastsMs: 3 * DAY + 3 * MINUTE,
    outcome: ['COMPLETED'],
  },
  {
    id: 'c',
    name: 'scheduled 30 minutes ahead, cancelled after 1',
    unit: 'task',
    events: (key, t0) => [publish(key, t0 + 30 * MINUTE), cancelPublish(key, MINUTE)],
    lastsMs: 33 * MINUTE,
    outcome: ['CANCELLED'],
  },
  {
    id: 'c-short',
    name: 'scheduled 10 minutes ahead, cancelled after 1',
    unit: 'task',
    events: (key, t0) => [publish(key, t0 + 10 * MINUTE), cancelPublish(key, MINUTE)],
    lastsMs: 13 * MINUTE,
    outcome: ['CANCELLED'],
  },
  {
    id: 'd',
    name: 'a task due within 15 minutes (10) that runs',
    unit: 'task',
    events: (key, t0) => [publish(key, t0 + 10 * MINUTE)],
    lastsMs: 13 * MINUTE,
    outcome: ['COMPLETED'],
  },
  {
    id: 'e',
    name: 'J1: the code after 30 minutes, the reminder 3 days later',
    unit: 'journey',
    events: (key) => [
      { at: 0, detailType: 'UserRegistered', detail: { userId: key, email: `${key}@example.com` } },
    ],
    lastsMs: 3 * DAY + 40 * MINUTE,
    outcome: ['COMPLETED', 'COMPLETED'],
  },
  {
    id: 'f',
    name: 'an OrderPlaced that changes nothing (never registered)',
    unit: 'event',
    events: (key) => [
      { at: 0, detailType: 'OrderPlaced', detail: { userId: key, orderId: `o-${key}`, total: 1 } },
    ],
    lastsMs: 2 * MINUTE,
    outcome: [],
  },
];
