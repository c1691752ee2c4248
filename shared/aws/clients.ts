import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** AWS requests made by this process, by service and command, and DynamoDB capacity used. */
export interface RequestCounts {
  readonly requests: Record<string, number>;
  /** Capacity units DynamoDB reported as consumed, by command (table and indexes together). */
  readonly capacityUnits: Record<string, number>;
  /** Of those, the units each index consumed, by `<command> <index>` (reported only when asked, see {@link MEASURE_CAPACITY_ENV}). */
  readonly indexCapacityUnits: Record<string, number>;
}

/** The counts every client made here adds to; benchmarks read and reset it. */
export const requestCounts: RequestCounts = {
  requests: {},
  capacityUnits: {},
  indexCapacityUnits: {},
};

/**
 * Set to `INDEXES` and every DynamoDB request asks for `ReturnConsumedCapacity: 'INDEXES'`,
 * so {@link requestCounts} holds the units of the table and of each index. The cost
 * benchmark sets it; it changes nothing but the size of the answers.
 */
export const MEASURE_CAPACITY_ENV = 'HOURGLASS_MEASURE_CAPACITY';

/** Clears {@link requestCounts}. */
export function resetRequestCounts(): void {
  for (const counts of Object.values(requestCounts))
    for (const key of Object.keys(counts)) delete counts[key];
}

interface MiddlewareClient {
  middlewareStack: {
    add: (middleware: never, options: { step: 'initialize'; name: string }) => void;
  };
}

/** What DynamoDB reports in `ConsumedCapacity`, one entry per table. */
interface ConsumedCapacity {
  readonly CapacityUnits?: number;
  readonly GlobalSecondaryIndexes?: Record<string, { CapacityUnits?: number }>;
}

const add = (counts: Record<string, number>, name: string, units: number) => {
  if (units > 0) counts[name] = (counts[name] ?? 0) + units;
};

/**
 * Counts every request a client makes, by `<Service>.<Command>`, and the DynamoDB capacity
 * each reports. Added once per client by {@link createClients}.
 */
export function countRequests(client: MiddlewareClient, service: string): void {
  const middleware =
    (
      next: (args: {
        input?: Record<string, unknown>;
      }) => Promise<{ output: Record<string, unknown> }>,
      context: { commandName?: string },
    ) =>
    async (args: { input?: Record<string, unknown> }) => {
      const name = `${service}.${context.commandName ?? 'Unknown'}`;
      requestCounts.requests[name] = (requestCounts.requests[name] ?? 0) + 1;
      if (service === 'DynamoDB' && process.env[MEASURE_CAPACITY_ENV] === 'INDEXES' && args.input)
        args.input.ReturnConsumedCapacity = 'INDEXES';
      const result = await next(args);
      const reported = result.output?.ConsumedCapacity as
        | ConsumedCapacity
        | ConsumedCapacity[]
        | undefined;
      for (const consumed of Array.isArray(reported) ? reported : reported ? [reported] : []) {
        add(requestCounts.capacityUnits, name, consumed.CapacityUnits ?? 0);
        for (const [index, units] of Object.entries(consumed.GlobalSecondaryIndexes ?? {}))
          add(requestCounts.indexCapacityUnits, `${name} ${index}`, units.CapacityUnits ?? 0);
      }
      return result;
    };
  client.middlewareStack.add(middleware as never, {
    step: 'initialize',
    name: `hourglassCount${service}`,
  });
}

/** The AWS clients the runtime uses. */
export interface Clients {
  readonly dynamo: DynamoDBDocumentClient;
  readonly sqs: SQSClient;
  readonly scheduler: SchedulerClient;
  readonly eventBridge: EventBridgeClient;
}

/**
 * The endpoint for a service: `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, else
 * AWS's own. The same code runs against AWS, the local cloud or LocalStack.
 */
export function endpointFor(
  service: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
) {
  return env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL || undefined;
}

/**
 * Creates the runtime's AWS clients, with endpoint overrides and request counting. Create
 * them once per cold start (module scope) and pass them in as dependencies.
 */
export function createClients(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Clients {
  const dynamoBase = new DynamoDBClient({ endpoint: endpointFor('DYNAMODB', env) });
  const dynamo = DynamoDBDocumentClient.from(dynamoBase, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const sqs = new SQSClient({ endpoint: endpointFor('SQS', env) });
  const scheduler = new SchedulerClient({ endpoint: endpointFor('SCHEDULER', env) });
  const eventBridge = new EventBridgeClient({ endpoint: endpointFor('EVENTBRIDGE', env) });
  countRequests(dynamo as unknown as MiddlewareClient, 'DynamoDB');
  countRequests(sqs as unknown as MiddlewareClient, 'SQS');
  countRequests(scheduler as unknown as MiddlewareClient, 'Scheduler');
  countRequests(eventBridge as unknown as MiddlewareClient, 'EventBridge');
  return { dynamo, sqs, scheduler, eventBridge };
}
