import { PLATFORM_LOG_BYTES_PER_INVOCATION, PRICES } from './prices';

/** What one function did in a measured run (see `FunctionUsage` in local/runner.ts). */
export interface FunctionRun {
  readonly invocations: number;
  readonly handlerMs: number;
  /** Non-empty receives and batch deletes its event source mapping made (queues only). */
  readonly receives: number;
  readonly deletes: number;
}

/** Everything a measured run did that AWS bills. */
export interface MeasuredRun {
  /** What the run is counted in: tasks, journeys or events. */
  readonly units: number;
  /** The runtime's AWS requests, by `<Service>.<Command>`. */
  readonly requests: Readonly<Record<string, number>>;
  /** DynamoDB capacity by command, table and indexes together. */
  readonly capacityUnits: Readonly<Record<string, number>>;
  /** Of that, each index's, by `<command> <index>`. */
  readonly indexCapacityUnits: Readonly<Record<string, number>>;
  readonly functions: Readonly<Record<string, FunctionRun>>;
  /** Events bus rules delivered to the ingest queue (an SQS SendMessage each). */
  readonly ruleDeliveries: number;
  /** Schedules fired (an invocation and an SQS SendMessage each). */
  readonly scheduleInvocations: number;
  /** Lifecycle events put on the bus. */
  readonly lifecycleEvents: number;
  /** Bytes the handlers wrote to their logs (log lines and metrics). */
  readonly logBytes: number;
  /** Memory of every function, MB. */
  readonly memoryMb: number;
  /** The share of invocations X-Ray records a trace for (0 with tracing off). */
  readonly tracedFraction: number;
}

/** A run's figures per unit, and their price per million units, by service. */
export interface PricedRun {
  readonly perUnit: {
    readonly lambdaInvocations: number;
    readonly lambdaGbSeconds: number;
    readonly sqsRequests: number;
    readonly writeUnits: number;
    /** Of the write units, those spent on index writes. */
    readonly indexWriteUnits: number;
    readonly readUnits: number;
    readonly lifecycleEvents: number;
    readonly scheduleInvocations: number;
    readonly logBytes: number;
    readonly traces: number;
  };
  readonly usdPerMillion: {
    readonly lambda: number;
    readonly sqs: number;
    readonly dynamodb: number;
    readonly eventBridge: number;
    readonly scheduler: number;
    readonly logs: number;
    readonly xray: number;
    readonly total: number;
  };
}

const READ_COMMAND = /\.(GetItem|BatchGetItem|Query|Scan|TransactGetItems)Command$/;
const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);

/**
 * Prices a measured run at {@link PRICES}: every figure divided by the run's units, then
 * multiplied by a million. Pure, so the arithmetic is tested apart from the measuring.
 */
export function priceRun(run: MeasuredRun): PricedRun {
  const per = (n: number) => (run.units === 0 ? 0 : n / run.units);
  const functions = Object.values(run.functions);
  const invocations = sum(functions.map((f) => f.invocations));
  const handlerSeconds = sum(functions.map((f) => f.handlerMs)) / 1000;
  const sqsRequests =
    sum(Object.entries(run.requests).flatMap(([name, n]) => (name.startsWith('SQS.') ? [n] : []))) +
    sum(functions.map((f) => f.receives + f.deletes)) +
    run.ruleDeliveries +
    run.scheduleInvocations;
  let writeUnits = 0;
  let readUnits = 0;
  for (const [name, units] of Object.entries(run.capacityUnits)) {
    if (READ_COMMAND.test(name)) readUnits += units;
    else writeUnits += units;
  }
  const indexWriteUnits = sum(
    Object.entries(run.indexCapacityUnits).flatMap(([name, units]) =>
      READ_COMMAND.test(name.split(' ')[0]!) ? [] : [units],
    ),
  );
  const logBytes = run.logBytes + invocations * PLATFORM_LOG_BYTES_PER_INVOCATION;
  const perUnit = {
    lambdaInvocations: per(invocations),
    lambdaGbSeconds: per(handlerSeconds * (run.memoryMb / 1024)),
    sqsRequests: per(sqsRequests),
    writeUnits: per(writeUnits),
    indexWriteUnits: per(indexWriteUnits),
    readUnits: per(readUnits),
    lifecycleEvents: per(run.lifecycleEvents),
    scheduleInvocations: per(run.scheduleInvocations),
    logBytes: per(logBytes),
    traces: per(invocations * run.tracedFraction),
  };
  const million = (usd: number) => usd * 1e6;
  const usd = {
    lambda: million(
      perUnit.lambdaInvocations * PRICES.lambda.perRequest +
        perUnit.lambdaGbSeconds * PRICES.lambda.perGbSecond,
    ),
    sqs: million(perUnit.sqsRequests * PRICES.sqs.perRequest),
    dynamodb: million(
      perUnit.writeUnits * PRICES.dynamodb.perWriteUnit +
        perUnit.readUnits * PRICES.dynamodb.perReadUnit,
    ),
    eventBridge: million(perUnit.lifecycleEvents * PRICES.eventBridge.perEvent),
    scheduler: million(perUnit.scheduleInvocations * PRICES.scheduler.perInvocation),
    logs: million((perUnit.logBytes / 1024 ** 3) * PRICES.logs.perGb),
    xray: million(perUnit.traces * PRICES.xray.perTrace),
  };
  return { perUnit, usdPerMillion: { ...usd, total: sum(Object.values(usd)) } };
}
