import { LIFECYCLE_SOURCE } from '../shared/aws/messages';
import definitions from '../workflows';
import { startLocalCloud } from './cloud';
import { type DemoSummary, formatMs, latenessBoundMs, RULES, summarize } from './demo-report';

export * from './demo-report';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
/** Real ms the demo waits for the local cloud to finish its five virtual days before it gives up. */
const SETTLE_TIMEOUT_MS = 300_000;
/** The demo's default time scale: a virtual minute per real second (idle gaps are skipped besides). */
export const DEFAULT_TIME_SCALE = 60;

/** One event the demo sends, and when it arrives (virtual ms). */
export interface DemoEvent {
  readonly arriveAt: number;
  readonly source: string;
  readonly detailType: string;
  readonly time: number;
  readonly detail: Record<string, unknown>;
}

/** A small seeded random source, so a demo run can be repeated exactly. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4_294_967_296;
  };
}

/** What each journey's part of the demo stream draws from: the seeded dice, the window, and the stream. */
interface StreamBuilder {
  readonly t0: number;
  readonly window: number;
  between(from: number, to: number): number;
  pick(p: number): boolean;
  push(detailType: string, detail: Record<string, unknown>, time: number): void;
}

/**
 * A realistic stream through J1–J5 starting at `t0`: users registering, ordering or not;
 * checkouts abandoned and paid; images uploaded and sometimes deleted; products and
 * campaigns scheduled days ahead, moved and called off; discounts applied and removed;
 * and a few malformed events, which must be rejected with a reason.
 */
export function demoStream(
  t0: number,
  options: {
    users: number;
    random: () => number;
    /** Virtual ms over which users register, images are uploaded, and so on. @default 40 minutes */
    windowMs?: number;
  },
): DemoEvent[] {
  const { users, random } = options;
  const events: DemoEvent[] = [];
  const builder: StreamBuilder = {
    t0,
    // On the compressed clock every real millisecond of processing costs S virtual ones: a
    // denser stream than this outruns a 2-core machine at 60×, and the run measures the
    // machine instead of Hourglass.
    window: options.windowMs ?? 40 * MIN,
    between: (from, to) => Math.round(from + random() * (to - from)),
    pick: (p) => random() < p,
    push: (detailType, detail, time) =>
      events.push({ arriveAt: time, source: 'shop', detailType, time, detail }),
  };
  // The order of the parts is the order the seeded dice are drawn in: keep it.
  for (let i = 1; i <= users; i++) shopper(builder, i);
  for (let i = 1; i <= Math.ceil(users / 3); i++) imageUpload(builder, i);
  for (let i = 1; i <= Math.ceil(users / 8); i++) productLaunch(builder, i);
  for (let i = 1; i <= Math.ceil(users / 10); i++) discount(builder, i);
  for (let i = 1; i <= Math.ceil(users / 15); i++) groupEmail(builder, i);
  for (let i = 1; i <= 5; i++) {
    builder.push(
      'UserRegistered',
      { email: `nobody-${i}@example.com` },
      t0 + builder.between(0, builder.window),
    ); // no userId: rejected
  }
  return events.sort((a, b) => a.arriveAt - b.arriveAt);
}

/** J1 and J2: a user registers, orders early, late or never, and starts checkouts, some paid. */
function shopper({ t0, window, between, pick, push }: StreamBuilder, i: number): void {
  const userId = `user-${i}`;
  const registered = t0 + between(0, window);
  push('UserRegistered', { userId, email: `${userId}@example.com` }, registered);
  const order = { userId, orderId: `order-${i}` };
  if (pick(0.35))
    push('OrderPlaced', { ...order, total: between(10, 200) }, registered + between(1, 25) * MIN);
  else if (pick(0.2))
    push('OrderPlaced', { ...order, total: between(10, 200) }, registered + between(40, 90) * MIN);
  if (!pick(0.4)) return;
  const carts = between(1, 3);
  let at = registered + between(1, 5) * MIN;
  for (let c = 1; c <= carts; c++) {
    push('CheckoutStarted', { userId, cartId: `cart-${i}-${c}` }, at);
    if (pick(0.55))
      push('PaymentSucceeded', { userId, cartId: `cart-${i}-${c}` }, at + between(1, 15) * MIN);
    at += between(1, 6) * MIN;
  }
}

/** J3: an image is uploaded, and sometimes deleted before it is processed. */
function imageUpload({ t0, window, between, pick, push }: StreamBuilder, i: number): void {
  const imageId = `image-${i}`;
  const uploaded = t0 + between(0, window);
  push(
    'ImageUploaded',
    { imageId, url: `s3://uploads/${imageId}.png`, bytes: between(10_000, 5_000_000) },
    uploaded,
  );
  if (pick(0.3)) push('ImageDeleted', { imageId }, uploaded + between(0, 90) * 1000);
}

/** A time one to three days after `t0`, on a random hour. */
const daysAhead = ({ t0, between }: StreamBuilder) =>
  t0 + between(1, 3) * DAY + between(0, 23) * HOUR;

/** J4: a product launch is scheduled days ahead, sometimes moved or called off. */
function productLaunch(b: StreamBuilder, i: number): void {
  const productId = `product-${i}`;
  const at = b.t0 + b.between(0, b.window);
  b.push(
    'ProductPublishScheduled',
    { productId, publishAt: new Date(daysAhead(b)).toISOString() },
    at,
  );
  if (b.pick(0.25))
    b.push(
      'ProductPublishScheduled',
      { productId, publishAt: new Date(daysAhead(b)).toISOString() },
      at + b.between(1, 10) * MIN,
    );
  else if (b.pick(0.15))
    b.push('ProductPublishCancelled', { productId }, at + b.between(1, 10) * MIN);
}

/** J4: a discount is applied until a day or two ahead, sometimes removed. */
function discount({ t0, window, between, pick, push }: StreamBuilder, i: number): void {
  const discountId = `discount-${i}`;
  const at = t0 + between(0, window);
  const endsAt = new Date(t0 + between(1, 2) * DAY + between(0, 23) * HOUR).toISOString();
  push('DiscountApplied', { productId: `product-${i}`, discountId, endsAt }, at);
  if (pick(0.2)) push('DiscountRemoved', { discountId }, at + between(1, 10) * MIN);
}

/** J5: a group email is scheduled days ahead, sometimes cancelled. */
function groupEmail(b: StreamBuilder, i: number): void {
  const campaignId = `campaign-${i}`;
  const at = b.t0 + b.between(0, b.window);
  const groupId = `group-${b.between(1, 5)}`;
  b.push(
    'GroupEmailScheduled',
    { campaignId, groupId, sendAt: new Date(daysAhead(b)).toISOString() },
    at,
  );
  if (b.pick(0.2)) b.push('GroupEmailCancelled', { campaignId }, at + b.between(1, 10) * MIN);
}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  readonly users?: number;
  readonly timeScale?: number;
  readonly seed?: number;
  /** Where progress lines go. @default stderr */
  readonly progress?: (line: string) => void;
}

/**
 * Starts the local cloud, drives the demo stream through it over the real EventBridge wire
 * protocol, lets every task come due, and returns the summary. Stops the cloud at the end.
 * The demo injects no faults, so every rule of {@link RULES} applies to every task.
 */
export async function runDemo(options: DemoOptions = {}) {
  const progress = options.progress ?? ((line: string) => process.stderr.write(`${line}\n`));
  const timeScale = options.timeScale ?? DEFAULT_TIME_SCALE;
  const t0 = Date.parse('2026-11-02T08:00:00Z');
  // Every outcome on the bus, for the progress line.
  const cloud = await startLocalCloud({
    definitions,
    timeScale,
    origin: t0,
    lifecycleEvents: 'all',
  });
  const started = performance.now();
  try {
    const events = demoStream(t0 + MIN, {
      users: options.users ?? 300,
      random: seededRandom(options.seed ?? 7),
    });
    let sent = 0;
    for (const [arriveAt, batch] of groupByArrival(events)) {
      cloud.at(arriveAt, async () => {
        await cloud.emit(
          batch.map((e) => ({
            source: e.source,
            detailType: e.detailType,
            detail: e.detail,
            time: new Date(e.time),
          })),
        );
        sent += batch.length;
      });
    }
    const lastDue = t0 + 5 * DAY;
    const ticker = setInterval(() => {
      // Counted from the lifecycle events on the bus: progress costs the table nothing.
      const finished = new Map<string, number>();
      for (const e of cloud.busEvents)
        if (e.source === LIFECYCLE_SOURCE)
          finished.set(e['detail-type'], (finished.get(e['detail-type']) ?? 0) + 1);
      const by = (detailType: string) => finished.get(detailType) ?? 0;
      progress(
        `[demo] ${((performance.now() - started) / 1000).toFixed(0).padStart(3)}s real | virtual ${new Date(Date.now()).toISOString().slice(0, 16)} | events ${sent}/${events.length} | tasks finished: ${by('TaskCompleted')} completed, ${by('TaskCancelled')} cancelled, ${by('TaskExpired')} expired, ${by('TaskFailed')} failed`,
      );
    }, 2_000);
    try {
      await cloud.settle({ until: lastDue, timeoutMs: SETTLE_TIMEOUT_MS });
    } finally {
      clearInterval(ticker);
    }
    const result = await summarize(cloud, { latenessBoundMs: latenessBoundMs(timeScale) });
    return {
      ...result,
      timeScale,
      realSeconds: (performance.now() - started) / 1000,
      skippedVirtualMs: cloud.clock.skippedMs,
      errors: cloud.errors,
    };
  } finally {
    await cloud.stop();
  }
}

function groupByArrival(events: readonly DemoEvent[]): Map<number, DemoEvent[]> {
  const groups = new Map<number, DemoEvent[]>();
  for (const e of events) {
    const key = Math.floor(e.arriveAt / 1000) * 1000;
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  return groups;
}

/** Lays out rows under a header: the first column left-aligned, the rest right-aligned. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** The last line of the summary: what was checked, in words, and whether it held. */
export function verdictLine(summary: DemoSummary): string {
  const checked = Object.values(RULES)
    .map((rule) =>
      rule === RULES.lateness ? `${rule} (${formatMs(summary.latenessMs.bound)})` : rule,
    )
    .join(', ');
  return summary.verdict.ok
    ? `OK: ${checked}.`
    : `FAILED: ${summary.verdict.failed.join(', ')}. Checked: ${checked}.`;
}

/** Renders the summary tables and the verdict. */
export function renderSummary(result: Awaited<ReturnType<typeof runDemo>>): string {
  const s = result.summary;
  const types = table(
    [
      'task type',
      'scheduled',
      'cancelled',
      'completed',
      'failed',
      'expired',
      'late cancels',
      'lateness p50',
      'p99',
      'max',
    ],
    Object.entries(s.byType).map(([type, t]) => [
      type,
      ...[t.scheduled, t.cancelled, t.completed, t.failed, t.expired, t.lateCancels].map(String),
      formatMs(t.latenessMs.p50),
      formatMs(t.latenessMs.p99),
      formatMs(t.latenessMs.max),
    ]),
  );
  const paths = table(
    ['timer path', 'tasks', 'lateness p50', 'p99', 'max'],
    (
      [
        ['SQS delay (due within 15 min)', s.byPath.sqs],
        ['Scheduler (due later)', s.byPath.schedule],
      ] as const
    ).map(([name, p]) => [
      name,
      String(p.tasks),
      formatMs(p.p50),
      formatMs(p.p99),
      formatMs(p.max),
    ]),
  );
  return [
    '',
    ...types,
    '',
    ...paths,
    '',
    `events ${s.events} | tasks ${Object.entries(s.tasks)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} | late cancels ${s.lateCancels}`,
    `timer lateness (virtual time, from due to first start) p50 ${formatMs(s.latenessMs.p50)}, p99 ${formatMs(s.latenessMs.p99)}, max ${formatMs(s.latenessMs.max)}; bound for p99 ${formatMs(s.latenessMs.bound)} (1 s for the design's rounding + 3 s of the local cloud's real latency at ${result.timeScale}×)`,
    `time scale ${result.timeScale}× (a virtual minute per ${(60 / result.timeScale).toFixed(2)} real seconds) with idle gaps skipped: ${(result.skippedVirtualMs / DAY).toFixed(1)} virtual days skipped; ran ${result.realSeconds.toFixed(0)} real seconds`,
    ...result.problems.slice(0, 20).map((p) => `  problem: ${p}`),
    ...(result.problems.length > 20 ? [`  … and ${result.problems.length - 20} more`] : []),
    verdictLine(s),
  ].join('\n');
}

async function main(argv: readonly string[]) {
  const json = argv.includes('--json');
  const scaleText = process.env.HOURGLASS_TIME_SCALE;
  const timeScale = scaleText === undefined ? DEFAULT_TIME_SCALE : Number(scaleText);
  if (!(timeScale >= 1)) {
    process.stderr.write(
      `hourglass demo: HOURGLASS_TIME_SCALE must be a number ≥ 1, got "${scaleText}"\n`,
    );
    return 2;
  }
  const usersArg = argv.find((a) => a.startsWith('--users='));
  const users = usersArg ? Number(usersArg.slice('--users='.length)) : 300;
  if (!Number.isInteger(users) || users < 1) {
    process.stderr.write(`hourglass demo: --users must be a whole number ≥ 1, got "${usersArg}"\n`);
    return 2;
  }
  process.stderr.write(
    `[demo] starting the local cloud (DynamoDB Local, fauxqs, EventBridge and Scheduler emulators) at time scale ${timeScale}×…\n`,
  );
  const result = await runDemo({ users, timeScale });
  process.stdout.write(`${renderSummary(result)}\n`);
  if (json) process.stdout.write(`${JSON.stringify(result.summary)}\n`);
  return result.summary.verdict.ok ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      process.stderr.write(`hourglass demo: ${(error as Error).message}\n`);
      process.exit(1);
    },
  );
}
