/**
 * Decisions per second of the pure decider, for J1 and J2 instances with 1, 10 and 100
 * events of history, and XState v5's pure `transition` for an equivalent J1 machine as a
 * reference point. Prints a table and writes bench/results/decider.json.
 *
 * Run: npm run bench:decider   (BENCH_SECONDS=2 for longer samples)
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { createMachine, initialTransition, transition } from 'xstate';
import {
  decide,
  type Instance,
  newInstance,
  type RecordedEvent,
  type TaskFact,
  type Workflow,
} from '../shared/core';
import { abandonedCheckout, welcomeDiscount } from '../workflows';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
const T0 = Date.parse('2026-11-02T09:00:00Z');
const HISTORY_SIZES = [1, 10, 100];

const event = (id: string, detailType: string, detail: object, time: number): RecordedEvent => ({
  id,
  source: 'shop',
  detailType,
  time,
  detail,
});

/** Runs `fn` for about SECONDS and returns calls per second (after a warm-up). */
function perSecond(fn: () => unknown): number {
  for (let i = 0; i < 2_000; i++) fn();
  let calls = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(SECONDS * 1e9));
  let elapsed = 0n;
  while (elapsed < budget) {
    for (let i = 0; i < 200; i++) fn();
    calls += 200;
    elapsed = process.hrtime.bigint() - start;
  }
  return calls / (Number(elapsed) / 1e9);
}

/** An instance with `size` events of history, the facts of its tasks, and one new event. */
interface Case {
  readonly workflow: Workflow;
  readonly instance: Instance;
  readonly facts: TaskFact[];
  readonly next: RecordedEvent;
}

function buildCase(workflow: Workflow, history: RecordedEvent[], next: RecordedEvent): Case {
  let instance = newInstance(workflow, 'u1');
  const facts: TaskFact[] = [];
  for (const e of history) {
    const decision = decide(workflow, instance, [e], facts, e.time);
    instance = decision.instance;
    for (const c of decision.commands) {
      if (c.type === 'schedule-task') {
        facts.push({
          ...c.task,
          status: 'SCHEDULED',
          attempts: 0,
          startedAt: null,
          finishedAt: null,
          lateCancels: [],
        });
      }
    }
  }
  return { workflow, instance, facts, next };
}

/** J1: a registration, then repeats of it (which change nothing); next, an order cancels the code. */
function j1(size: number): Case {
  const history = Array.from({ length: size }, (_, i) =>
    event(`r${i}`, 'UserRegistered', { userId: 'u1', email: 'u1@x.io' }, T0 + i * 1_000),
  );
  return buildCase(
    welcomeDiscount,
    history,
    event('o1', 'OrderPlaced', { userId: 'u1', orderId: 'o', total: 1 }, T0 + size * 1_000),
  );
}

/** J2: checkouts and payments over a few carts; next, another checkout extends the debounce. */
function j2(size: number): Case {
  const history = Array.from({ length: size }, (_, i) =>
    event(
      `e${i}`,
      i % 3 === 2 ? 'PaymentSucceeded' : 'CheckoutStarted',
      { userId: 'u1', cartId: `c${i % 5}` },
      T0 + i * 1_000,
    ),
  );
  return buildCase(
    abandonedCheckout,
    history,
    event('next', 'CheckoutStarted', { userId: 'u1', cartId: 'c9' }, T0 + size * 1_000),
  );
}

/** J1 as an XState v5 machine: the same states and moves, timers as named actions. */
const xstateJ1 = createMachine({
  id: 'welcome-discount',
  initial: 'new',
  states: {
    new: { on: { UserRegistered: { target: 'waiting', actions: 'scheduleSendDiscountCode' } } },
    waiting: {
      on: {
        OrderPlaced: { target: 'converted', actions: 'cancelSendDiscountCode' },
        'send-discount-code.completed': { target: 'nudged', actions: 'scheduleDiscountReminder' },
      },
    },
    nudged: {
      on: {
        OrderPlaced: { target: 'converted', actions: 'cancelDiscountReminder' },
        'discount-reminder.completed': { target: 'done' },
      },
    },
    converted: { type: 'final' },
    done: { type: 'final' },
  },
});

interface Row {
  readonly subject: string;
  readonly history: number;
  readonly decisionsPerSecond: number;
  readonly microsecondsPerDecision: number;
}

const rows: Row[] = [];
const record = (subject: string, history: number, rate: number) =>
  rows.push({
    subject,
    history,
    decisionsPerSecond: Math.round(rate),
    microsecondsPerDecision: Number((1e6 / rate).toFixed(2)),
  });

for (const [name, build] of [
  ['hourglass decide J1', j1],
  ['hourglass decide J2', j2],
] as const) {
  for (const size of HISTORY_SIZES) {
    const c = build(size);
    const now = c.next.time;
    record(
      name,
      size,
      perSecond(() => decide(c.workflow, c.instance, [c.next], c.facts, now)),
    );
  }
}

const [waiting] = initialTransition(xstateJ1);
const [inWaiting] = transition(xstateJ1, waiting, { type: 'UserRegistered' });
record(
  'xstate transition J1 (one event, no history)',
  0,
  perSecond(() => transition(xstateJ1, inWaiting, { type: 'OrderPlaced' })),
);
for (const size of HISTORY_SIZES) {
  // XState keeps no history; replaying the same events through it is the like-for-like cost.
  const events = [
    ...Array.from({ length: size }, () => ({ type: 'UserRegistered' })),
    { type: 'OrderPlaced' },
  ];
  record(
    'xstate replay J1 (history + new event)',
    size,
    perSecond(() => {
      let [snapshot] = initialTransition(xstateJ1);
      for (const e of events) [snapshot] = transition(xstateJ1, snapshot, e);
      return snapshot;
    }),
  );
}

const table = rows.map((r) => ({
  subject: r.subject,
  'history events': r.history,
  'decisions/s': r.decisionsPerSecond.toLocaleString('en-US'),
  'µs/decision': r.microsecondsPerDecision,
}));
console.log(
  `Decider benchmark: one core, ${SECONDS}s per case, Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}`,
);
console.table(table);

const j1At10 = rows.find((r) => r.subject === 'hourglass decide J1' && r.history === 10)!;
const growth = (subject: string) => {
  const [a, , c] = HISTORY_SIZES.map(
    (h) => rows.find((r) => r.subject === subject && r.history === h)!,
  );
  return Number((c!.microsecondsPerDecision / a!.microsecondsPerDecision).toFixed(1));
};
const summary = {
  target:
    'at least 50,000 J1 decisions/s at 10 events of history; cost no worse than linear in history',
  j1DecisionsPerSecondAt10: j1At10.decisionsPerSecond,
  meetsTarget: j1At10.decisionsPerSecond >= 50_000,
  costRatio100vs1: { j1: growth('hourglass decide J1'), j2: growth('hourglass decide J2') },
};
console.log(
  `J1 at 10 events: ${j1At10.decisionsPerSecond.toLocaleString('en-US')} decisions/s (target 50,000: ${summary.meetsTarget ? 'met' : 'NOT met'}); cost at 100 events vs 1: J1 ×${summary.costRatio100vs1.j1}, J2 ×${summary.costRatio100vs1.j2} (linear would be ×100 at most)`,
);

await mkdir(new URL('./results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('./results/decider.json', import.meta.url),
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, secondsPerCase: SECONDS, rows, summary }, null, 2)}\n`,
);
console.log('wrote bench/results/decider.json');
