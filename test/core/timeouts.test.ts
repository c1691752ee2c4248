import { describe, expect, it } from 'vitest';
import { defineHourglass, defineTaskType, defineWorkflow } from '../../shared/core';
import { scenario } from '../../shared/core/testing';
import { notifyCarrier, OrderShipped } from '../fixtures/shipping/definitions';

/**
 * The three timeouts, in Temporal's terms: `timeout` bounds one attempt (StartToClose),
 * `deadline` bounds when any attempt may start (ScheduleToStart), `totalTimeout`
 * bounds the whole task, retries and backoffs included (ScheduleToClose). Each measured
 * from the due time, shown here on a virtual clock.
 */

// OrderShipped and notify-carrier (tell the carrier within 2 minutes of shipping, retries
// included; 10 s, 20 s, 40 s … apart) are the journey the local-cloud test runs too.

// Print the label: no attempt may start more than a minute after shipping.
const printLabel = defineTaskType({ name: 'print-label', deadline: '1m' });
const shipping = defineWorkflow({
  name: 'shipping',
  key: 'detail.orderId',
  events: [OrderShipped],
  initial: 'open',
  startOverOn: [],
  states: {
    open: {
      on: {
        OrderShipped: {
          target: 'shipped',
          schedule: [{ task: notifyCarrier }, { task: printLabel }],
        },
      },
    },
    shipped: { final: true },
  },
});
const definitions = defineHourglass({
  taskTypes: [notifyCarrier, printLabel],
  workflows: [shipping],
});
const START = '2026-03-01T09:00:00.000Z';

describe('the three timeouts', () => {
  it('total timeout: retries stop when the next attempt would start after it, and the task fails saying why', async () => {
    const s = scenario(definitions, { start: START })
      .emit(OrderShipped, { orderId: 'o1' })
      .failing(notifyCarrier, 10);
    const result = await s.run();
    const task = result.task(notifyCarrier, 'o1');
    // Attempts at 0 s, 10 s, 30 s, 70 s; the fifth would start at 150 s, past 2 minutes.
    expect(result.runs.filter((r) => r.taskType === 'notify-carrier').map((r) => r.at)).toEqual([
      s.time('0s'),
      s.time('10s'),
      s.time('30s'),
      s.time('70s'),
    ]);
    expect(task).toMatchObject({ status: 'FAILED', attempts: 4, finishedAt: s.time('70s') });
    expect(task.timeline.at(-1)?.cause).toBe(
      'total timeout (ScheduleToClose) of 2m passed, retries included',
    );
  });

  it('deadline: a task whose workers are down past it expires, never run', async () => {
    const result = await scenario(definitions, { start: START })
      .emit(OrderShipped, { orderId: 'o2' })
      .workersDown(printLabel, { from: '0s', to: '5m' })
      .run();
    expect(result.task(printLabel, 'o2')).toMatchObject({ status: 'EXPIRED', attempts: 0 });
    expect(result.runs.filter((r) => r.taskType === 'print-label')).toEqual([]);
  });

  it('total timeout: a retry whose workers are down past it fails at the total timeout', async () => {
    const s = scenario(definitions, { start: START })
      .emit(OrderShipped, { orderId: 'o3' })
      .failing(notifyCarrier, 1)
      .workersDown(notifyCarrier, { from: '5s', to: '10m' });
    const result = await s.run();
    expect(result.task(notifyCarrier, 'o3')).toMatchObject({
      status: 'FAILED',
      attempts: 1,
      finishedAt: s.time('2m'),
    });
  });

  it('is refused when shorter than one attempt, or earlier than the deadline', () => {
    expect(() => defineTaskType({ name: 't', timeout: '5m', totalTimeout: '1m' })).toThrow(
      "totalTimeout (1m) is shorter than one attempt's timeout (5m)",
    );
  });
});
