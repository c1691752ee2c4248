import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** AWS requests made by this process, by service and command, and DynamoDB capacity used. */
export interface RequestCounts {
  readonly requests: Record<string, number>;
  /** Capacity units DynamoDB reported as consumed, by command. */
  readonly capacityUnits: Record<string, number>;
}

/** The counts every client made here adds to; benchmarks read and reset it. */
export const requestCounts: RequestCounts = { requests: {}, capacityUnits: {} };

/** Clears {@link requestCounts}. */
export function resetRequestCounts(): void {
  for (const key of Object.keys(requestCounts.requests)) delete requestCounts.requests[key];
  for (const key of Object.keys(requestCounts.capacityUnits))
    delete requestCounts.capacityUnits[key];
}

interface MiddlewareClient {
  middlewareStack: {
    add: (middleware: never, options: { step: 'initialize'; name: string }) => void;
  };
}

/**
 * Counts every request a client makes, by `<Service>.<Command>`, and the DynamoDB capacity
 * each reports. Added once per client by {@link createClients}.
 */
export function countRequests(client: MiddlewareClient, service: string): void {
  const middleware =
    (
      next: (args: unknown) => Promise<{ output: Record<string, unknown> }>,
      context: { commandName?: string },
    ) =>
    async (args: unknown) => {
      const name = `${service}.${context.commandName ?? 'Unknown'}`;
      requestCounts.requests[name] = (requestCounts.requests[name] ?? 0) + 1;
      const result = await next(args);
      const consumed = result.output?.ConsumedCapacity as
        | { CapacityUnits?: number }
        | { CapacityUnits?: number }[]
        | undefined;
      const units = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
        (sum, c) => sum + (c.CapacityUnits ?? 0),
        0,
      );
      if (units > 0)
        requestCounts.capacityUnits[name] = (requestCounts.capacityUnits[name] ?? 0) + units;
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
