import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  countRequests,
  createClients,
  ENV,
  endpointFor,
  loadConfig,
  requestCounts,
  resetRequestCounts,
} from '../../shared/aws';

describe('loadConfig', () => {
  it('reads each variable on first use', () => {
    const config = loadConfig({
      [ENV.tableName]: 'hourglass',
      [ENV.taskQueueUrlPrefix]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/Shop-Hourglass-',
      [ENV.taskQueueArnPrefix]: 'arn:aws:sqs:eu-west-1:123456789012:Shop-Hourglass-',
      [ENV.schedulerRoleArn]: 'arn:aws:iam::123456789012:role/scheduler',
    });
    expect(config.tableName).toBe('hourglass');
    expect(config.taskQueue('send-discount-code')).toEqual({
      url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/Shop-Hourglass-send-discount-code',
      arn: 'arn:aws:sqs:eu-west-1:123456789012:Shop-Hourglass-send-discount-code',
    });
    expect(config.schedulerRoleArn).toBe('arn:aws:iam::123456789012:role/scheduler');
    expect(config.scheduleLeadSeconds).toBe(120);
    expect(config.retentionDays).toBe(30);
  });

  it('finds the queue of timers that need no worker: the ingest queue', () => {
    const config = loadConfig({
      [ENV.ingestQueueUrl]: 'https://sqs.eu-west-1.amazonaws.com/123456789012/Shop-Ingest',
      [ENV.ingestQueueArn]: 'arn:aws:sqs:eu-west-1:123456789012:Shop-Ingest',
    });
    expect(config.taskQueue('@timer')).toEqual({
      url: 'https://sqs.eu-west-1.amazonaws.com/123456789012/Shop-Ingest',
      arn: 'arn:aws:sqs:eu-west-1:123456789012:Shop-Ingest',
    });
    expect(() => loadConfig({}).taskQueue('@timer')).toThrow(
      'HOURGLASS_INGEST_QUEUE_URL is not set: set it to the URL of the ingest queue, where timers that need no worker are delivered',
    );
  });

  it.each([
    [
      'a missing table name',
      {},
      (c: ReturnType<typeof loadConfig>) => c.tableName,
      'HOURGLASS_TABLE_NAME is not set: set it to the name of the Hourglass DynamoDB table. The Hourglass CDK construct sets it; when running by hand, export it.',
    ],
    [
      'task queues without their naming rule',
      {},
      (c: ReturnType<typeof loadConfig>) => c.taskQueue('compress-image'),
      "HOURGLASS_TASK_QUEUE_URL_PREFIX is not set: set it to the task queues' URL up to the task type, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/MyStack-Hourglass-. The Hourglass CDK construct sets it; when running by hand, export it.",
    ],
    [
      'a retention that is not whole days',
      { [ENV.retentionDays]: '1.5' },
      (c: ReturnType<typeof loadConfig>) => c.retentionDays,
      'HOURGLASS_RETENTION_DAYS must be a whole number of days from 1 to 3650, got "1.5"',
    ],
    [
      'a role that is not an ARN',
      { [ENV.schedulerRoleArn]: 'scheduler-role' },
      (c: ReturnType<typeof loadConfig>) => c.schedulerRoleArn,
      'HOURGLASS_SCHEDULER_ROLE_ARN must be an ARN (arn:aws:…), got "scheduler-role"',
    ],
    [
      'a lead time out of range',
      { [ENV.scheduleLeadSeconds]: '900' },
      (c: ReturnType<typeof loadConfig>) => c.scheduleLeadSeconds,
      'HOURGLASS_SCHEDULE_LEAD_SECONDS must be a whole number of seconds from 60 to 840',
    ],
    [
      "a lead time under Scheduler's one-minute window",
      { [ENV.scheduleLeadSeconds]: '30' },
      (c: ReturnType<typeof loadConfig>) => c.scheduleLeadSeconds,
      'Scheduler fires anywhere in a schedule\'s minute, so a shorter lead could fire after the due time), got "30"',
    ],
  ])('names the variable and the fix for %s', (_, env, read, message) => {
    const config = loadConfig(env);
    expect(() => read(config)).toThrow(ConfigError);
    expect(() => read(config)).toThrow(message);
  });
});

describe('clients', () => {
  it('takes a service endpoint before the general one', () => {
    expect(
      endpointFor('SQS', { AWS_ENDPOINT_URL: 'http://a', AWS_ENDPOINT_URL_SQS: 'http://b' }),
    ).toBe('http://b');
    expect(endpointFor('DYNAMODB', { AWS_ENDPOINT_URL: 'http://a' })).toBe('http://a');
    expect(endpointFor('DYNAMODB', {})).toBeUndefined();
  });

  it('creates clients pointed at the configured endpoints', async () => {
    const clients = createClients({ AWS_ENDPOINT_URL_SQS: 'http://127.0.0.1:9' });
    const endpoint = await clients.sqs.config.endpoint?.();
    expect(endpoint?.hostname).toBe('127.0.0.1');
  });

  it('counts requests by command and the capacity DynamoDB reports', async () => {
    resetRequestCounts();
    const stack: Array<(next: unknown, context: unknown) => (args: unknown) => Promise<unknown>> =
      [];
    const client = { middlewareStack: { add: (m: never) => stack.push(m) } };
    countRequests(client, 'DynamoDB');
    const next = async () => ({
      output: { ConsumedCapacity: [{ CapacityUnits: 2 }, { CapacityUnits: 1.5 }] },
    });
    await stack[0]!(next, { commandName: 'TransactWriteItemsCommand' })({});
    expect(requestCounts.requests).toEqual({ 'DynamoDB.TransactWriteItemsCommand': 1 });
    expect(requestCounts.capacityUnits).toEqual({ 'DynamoDB.TransactWriteItemsCommand': 3.5 });
  });
});
