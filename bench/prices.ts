/**
 * AWS list prices the cost benchmark uses, and the anchors it compares Hourglass with.
 *
 * Source: the public AWS price pages for us-east-1 (N. Virginia), on-demand, after the free
 * tiers, as read in November 2026: aws.amazon.com/lambda/pricing, /sqs/pricing,
 * /dynamodb/pricing/on-demand (the November 2024 price cut: $0.625 per million write
 * request units, $0.125 per million read request units), /eventbridge/pricing (custom
 * events and Scheduler invocations), /cloudwatch/pricing (log ingestion), /xray/pricing.
 * Check them against the price list before quoting a figure: prices change.
 */
export const PRICES = {
  region: 'us-east-1',
  readOn: '2026-11',
  lambda: {
    perRequest: 0.2 / 1e6,
    /** Arm64 (Graviton), the architecture the construct deploys; first pricing tier. */
    perGbSecond: 0.0000133334,
  },
  /** Standard queues; each 64 KB chunk of a payload is one request. */
  sqs: { perRequest: 0.4 / 1e6, chunkBytes: 64 * 1024 },
  /** On-demand; a write unit is 1 KB written, a read unit 4 KB read strongly consistent. */
  dynamodb: { perWriteUnit: 0.625 / 1e6, perReadUnit: 0.125 / 1e6 },
  /** Custom events put on a bus; each 64 KB chunk is one event. Rule deliveries are free. */
  eventBridge: { perEvent: 1 / 1e6 },
  /** One-time schedule invocations; creating and deleting schedules is free. */
  scheduler: { perInvocation: 1 / 1e6 },
  /** CloudWatch Logs ingestion (standard class). */
  logs: { perGb: 0.5 },
  /** X-Ray traces recorded. */
  xray: { perTrace: 5 / 1e6 },
} as const;

/**
 * Bytes Lambda itself writes to the function's log per invocation: the START, END and
 * REPORT lines (about 350 bytes; more with an X-Ray segment id). Counted beside what the
 * handlers log.
 */
export const PLATFORM_LOG_BYTES_PER_INVOCATION = 350;

/** What another way to run "do X after a delay, unless Y" costs per million, and why. */
export interface Anchor {
  readonly name: string;
  readonly usdPerMillion: number;
  readonly assumption: string;
}

/** The anchors of the cost table: the usual alternatives, priced from their public price lists. */
export const ANCHORS: readonly Anchor[] = [
  {
    name: 'Step Functions Standard',
    usdPerMillion: 2 * 25 + 0.2,
    assumption:
      'a Wait state and a Task state that invokes a Lambda: 2 state transitions at $25 per million, plus $0.20 for the invocation; the worker itself not counted',
  },
  {
    name: 'Lambda durable functions',
    usdPerMillion: 17,
    assumption:
      "a wait and one step: the low end of issue 12's estimate of $17–25 per million (durable operations and data written, plus the invocations that start and resume the function); not re-read from the price list offline",
  },
  {
    name: 'Temporal Cloud',
    usdPerMillion: 75,
    assumption:
      'a workflow start, a timer and an activity: 3 actions at $25 per million (the lowest list rate; $150 at $50 per million); workers run on your own compute, not counted',
  },
];
