import { describe, expect, it } from 'vitest';
import { type MeasuredRun, priceRun } from '../../bench/cost-model';
import { PLATFORM_LOG_BYTES_PER_INVOCATION } from '../../bench/prices';

const nothing: MeasuredRun = {
  units: 10,
  requests: {},
  capacityUnits: {},
  indexCapacityUnits: {},
  functions: {},
  ruleDeliveries: 0,
  scheduleInvocations: 0,
  lifecycleEvents: 0,
  logBytes: 0,
  memoryMb: 256,
  tracedFraction: 0,
};

describe('pricing a measured run', () => {
  it('splits DynamoDB capacity into reads and writes by command, and index writes out of the writes', () => {
    const priced = priceRun({
      ...nothing,
      capacityUnits: {
        'DynamoDB.QueryCommand': 10,
        'DynamoDB.GetItemCommand': 10,
        'DynamoDB.TransactWriteItemsCommand': 60,
        'DynamoDB.UpdateItemCommand': 40,
      },
      indexCapacityUnits: {
        'DynamoDB.TransactWriteItemsCommand GSI1': 20,
        'DynamoDB.UpdateItemCommand GSI1': 10,
        'DynamoDB.QueryCommand GSI1': 5,
      },
    });

    expect(priced.perUnit).toMatchObject({ readUnits: 2, writeUnits: 10, indexWriteUnits: 3 });
    // 10 write units at $0.625 per million and 2 read units at $0.125 per million.
    expect(priced.usdPerMillion.dynamodb).toBeCloseTo(10 * 0.625 + 2 * 0.125, 6);
  });

  it('counts every SQS request AWS bills: the runtime, the mappings, rule deliveries and schedule firings', () => {
    const priced = priceRun({
      ...nothing,
      requests: { 'SQS.SendMessageCommand': 10, 'DynamoDB.GetItemCommand': 99 },
      functions: { worker: { invocations: 5, handlerMs: 0, receives: 5, deletes: 5 } },
      ruleDeliveries: 10,
      scheduleInvocations: 10,
    });

    expect(priced.perUnit.sqsRequests).toBe(4);
    expect(priced.usdPerMillion.sqs).toBeCloseTo(4 * 0.4, 6);
    expect(priced.usdPerMillion.scheduler).toBeCloseTo(1, 6);
  });

  it('prices Lambda by invocations and GB-seconds at the configured memory, and adds the platform log lines', () => {
    const priced = priceRun({
      ...nothing,
      functions: { relay: { invocations: 10, handlerMs: 40_000, receives: 0, deletes: 0 } },
    });

    expect(priced.perUnit.lambdaInvocations).toBe(1);
    expect(priced.perUnit.lambdaGbSeconds).toBeCloseTo(4 * 0.25, 6);
    expect(priced.usdPerMillion.lambda).toBeCloseTo(0.2 + 1 * 0.0000133334 * 1e6, 6);
    expect(priced.perUnit.logBytes).toBe(PLATFORM_LOG_BYTES_PER_INVOCATION);
  });

  it('charges a trace per sampled invocation, and none with tracing off', () => {
    const functions = { ingest: { invocations: 20, handlerMs: 0, receives: 0, deletes: 0 } };
    expect(priceRun({ ...nothing, functions, tracedFraction: 1 }).usdPerMillion.xray).toBeCloseTo(
      10,
      6,
    );
    expect(priceRun({ ...nothing, functions }).usdPerMillion.xray).toBe(0);
  });
});
