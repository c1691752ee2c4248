import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  decide,
  defineEvent,
  defineTaskType,
  defineWorkflow,
  diagram,
  newInstance,
  type ScheduleSpec,
} from '../../shared/core';
import { days, hours, T0 } from '../support/events';

const TrialStarted = defineEvent({
  source: 'billing',
  detailType: 'TrialStarted',
  schema: z.object({ accountId: z.string(), trialEndsAt: z.string() }),
});
const remind = defineTaskType({ name: 'remind-trial-ending' });

/** A workflow that schedules `remind` on TrialStarted, as `schedule` says. */
const trial = (schedule: Omit<ScheduleSpec<unknown, unknown>, 'task'>) =>
  defineWorkflow({
    name: 'trial',
    key: 'detail.accountId',
    events: [TrialStarted],
    initial: 'trialing',
    states: { trialing: { on: { TrialStarted: { schedule: { task: remind, ...schedule } } } } },
  });

const started = (trialEndsAt: number) => ({
  id: 'e1',
  source: 'billing',
  detailType: 'TrialStarted',
  time: T0,
  detail: { accountId: 'a1', trialEndsAt: new Date(trialEndsAt).toISOString() },
});

const dueAtOf = (workflow: ReturnType<typeof trial>, trialEndsAt: number) => {
  const { commands } = decide(
    workflow,
    newInstance(workflow, 'a1'),
    [started(trialEndsAt)],
    [],
    T0,
  );
  const scheduled = commands.find((c) => c.type === 'schedule-task');
  return scheduled?.type === 'schedule-task' ? scheduled.task.dueAt : undefined;
};

describe('times relative to an event field', () => {
  it('falls due 3 days before the time in detail.trialEndsAt', () => {
    const workflow = trial({ at: 'detail.trialEndsAt', before: '3d' });
    expect(dueAtOf(workflow, T0 + days(14))).toBe(T0 + days(11));
  });

  it('falls due 1 hour after the time in an event field', () => {
    const workflow = trial({ at: 'detail.trialEndsAt', after: '1h' });
    expect(dueAtOf(workflow, T0 + days(14))).toBe(T0 + days(14) + hours(1));
  });

  it('draws the offset and its field in the diagram', () => {
    expect(diagram(trial({ at: 'detail.trialEndsAt', before: '3d' }))).toContain(
      'schedule remind-trial-ending 3d before detail.trialEndsAt',
    );
    expect(diagram(trial({ at: 'detail.trialEndsAt', after: '1h' }))).toContain(
      'schedule remind-trial-ending 1h after detail.trialEndsAt',
    );
  });

  it('says how to count back when after is negative, and what before needs', () => {
    expect(() => trial({ at: 'detail.trialEndsAt', after: '-3d' })).toThrow(
      /after cannot be negative \(got '-3d'\); to count back from a time in the event, write \{ at: 'detail.<field>', before: '3d' \}/,
    );
    expect(() => trial({ before: '3d' })).toThrow(
      /before counts back from a time in the event: add at:/,
    );
    expect(() => trial({ at: 'detail.trialEndsAt', before: '3d', after: '1h' })).toThrow(
      /give before or after \(relative to at\), not both/,
    );
  });
});
