import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  check,
  defineEvent,
  defineHourglass,
  defineTaskType,
  defineWorkflow,
  diagram,
} from '../../shared/core';
import definitions, { abandonedCheckout, welcomeDiscount } from '../../workflows';

const Go = defineEvent({ source: 'test', detailType: 'Go', schema: z.object({ k: z.string() }) });
const Stop = defineEvent({
  source: 'test',
  detailType: 'Stop',
  schema: z.object({ k: z.string() }),
});
const Unused = defineEvent({ source: 'test', detailType: 'Unused', schema: z.object({}) });
const job = defineTaskType({ name: 'job' });

describe('diagram', () => {
  it('draws J1 with its timers and cancels on the transitions', () => {
    const text = diagram(welcomeDiscount);
    expect(text.startsWith('stateDiagram-v2\n')).toBe(true);
    expect(text).toContain('[*] --> s_new');
    expect(text).toContain(
      's_new --> s_waiting : UserRegistered / schedule send-discount-code in 30m, deadline due+2h',
    );
    expect(text).toContain('s_waiting --> s_converted : OrderPlaced / cancel send-discount-code');
    expect(text).toContain(
      's_waiting --> s_nudged : send-discount-code.completed / schedule discount-reminder in 3d',
    );
    expect(text).toContain('s_converted --> [*]');
    expect(text).toContain('s_done --> [*]');
  });

  it('labels guards, debounces and updates', () => {
    const text = diagram(abandonedCheckout);
    expect(text).toContain(
      'CheckoutStarted / assign; schedule send-cart-reminder debounce 20m max 1h',
    );
    expect(text).toContain(
      'PaymentSucceeded [no open cart left] / assign; cancel send-cart-reminder',
    );
    expect(text).toContain('PaymentSucceeded / assign; update send-cart-reminder');
  });
});

describe('check', () => {
  it('finds nothing wrong with the journeys', () => {
    expect(check(definitions)).toEqual([]);
  });

  it('reports every kind of problem, errors and warnings apart', () => {
    const idle = defineTaskType({ name: 'idle-task' });
    const instant = defineTaskType({ name: 'instant', deadline: '0s' });
    const flawed = defineWorkflow({
      name: 'flawed',
      key: 'detail.k',
      events: [Go, Stop],
      initial: 'start',
      states: {
        start: {
          on: {
            Go: {
              target: 'end',
              schedule: [
                { task: job, after: '10m', deadline: { after: '10m' } },
                { task: instant },
              ],
            },
            Stop: { target: 'end', cancel: instant },
          },
        },
        end: { final: true },
        orphan: {},
      },
    });
    const findings = check(
      defineHourglass({ taskTypes: [job, idle, instant], workflows: [flawed], events: [Unused] }),
    );

    expect(findings.map((f) => [f.severity, f.code])).toEqual([
      ['error', 'final-state-leaves-tasks-pending'],
      ['error', 'unreachable-state'],
      ['warning', 'never-starts-over'],
      ['error', 'deadline-not-after-delay'],
      ['error', 'deadline-not-after-delay'],
      ['warning', 'task-never-cancelled'],
      ['error', 'task-never-scheduled'],
      ['error', 'event-not-consumed'],
    ]);
    expect(findings.map((f) => f.message)).toEqual([
      "workflow 'flawed': final state 'end' can be entered while job, instant may still be pending; cancel it on the transitions into 'end'",
      "workflow 'flawed': state 'orphan' cannot be reached from 'start'; add a transition into it or remove it",
      "workflow 'flawed': an instance in final state 'end' ignores every later event for its key until its row expires; to start over on a new trigger say startOverOn: [Go, Stop], or startOverOn: [] if a final state is for good",
      "workflow 'flawed' state 'start' on 'Go': job's deadline (10m after the event) is at or before its delay (10m), so it always expires; make the deadline later",
      "workflow 'flawed' state 'start' on 'Go': task type 'instant' has a deadline of 0s after its due time (now, deadline due+0s), so it always expires; give it a longer deadline",
      "workflow 'flawed': no event ever cancels job; if that is intended, ignore this warning",
      "task type 'idle-task' is never scheduled by any workflow; schedule it or remove it from taskTypes",
      "event 'Unused' from 'test' is consumed by no workflow; add it to a workflow's events or remove it",
    ]);
  });
});
