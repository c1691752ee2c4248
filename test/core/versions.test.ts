import { describe, expect, it } from 'vitest';
import {
  compareDefinitions,
  DefinitionError,
  decide,
  defineWorkflow,
  newInstance,
  type RecordedEvent,
} from '../../shared/core';
import changedInPlace from '../fixtures/versions/changed-in-place';
import { SignedUp } from '../fixtures/versions/shared';
import v1, { loadedFromCheckout, onboardingV1 } from '../fixtures/versions/v1';
import versioned, { onboardingV2 } from '../fixtures/versions/versioned';

/**
 * Changing a workflow under running instances. The rule: an instance finishes under the
 * version it started with; a new version keeps the running one as `previous`. A change
 * made in place replays old history under new rules: `compareDefinitions` (hourglass
 * check --against) lists everything it would cancel, move or orphan, before deploy.
 */

const T = Date.parse('2026-02-02T10:00:00.000Z');
const signedUp = (userId: string, time = T): RecordedEvent => ({
  id: `s-${userId}`,
  source: SignedUp.source,
  detailType: SignedUp.detailType,
  time,
  detail: { userId },
});
const DAY = 86_400_000;

describe('workflow versions', () => {
  it('an instance that started under version 1 finishes under it after version 2 is deployed', () => {
    // Under version 1: tips due a day after sign-up.
    const started = decide(onboardingV1, newInstance(onboardingV1, 'u1'), [signedUp('u1')], [], T);
    expect(started.instance.definitionVersion).toBe(1);
    // Version 2 is deployed; a decision for u1 (its task row not written yet) still plans by
    // version 1: tips a day after sign-up, not two.
    const later = decide(onboardingV2, started.instance, [], [], T + 1_000);
    expect(later.commands).toMatchObject([{ type: 'schedule-task', task: { dueAt: T + DAY } }]);
    expect(later.instance.definitionVersion).toBe(1);
    // A new user starts under version 2: tips after two days.
    const fresh = decide(onboardingV2, newInstance(onboardingV2, 'u2'), [signedUp('u2')], [], T);
    expect(fresh.instance.definitionVersion).toBe(2);
    expect(fresh.commands).toMatchObject([{ type: 'schedule-task', task: { dueAt: T + 2 * DAY } }]);
  });

  it('refuses to decide for an instance whose version the definitions no longer carry, saying how to fix it', () => {
    const started = decide(onboardingV1, newInstance(onboardingV1, 'u3'), [signedUp('u3')], [], T);
    const withoutPrevious = defineWorkflow({ ...onboardingV2Options(), version: 2 });
    expect(() => decide(withoutPrevious, started.instance, [], [], T)).toThrow(
      'started under version 1, which these definitions no longer carry; keep that definition as previous',
    );
  });

  it('refuses a previous version that is not lower, or not the same workflow', () => {
    expect(() =>
      defineWorkflow({ ...onboardingV2Options(), version: 1, previous: onboardingV1 }),
    ).toThrow(DefinitionError);
    expect(() =>
      defineWorkflow({
        ...onboardingV2Options(),
        name: 'other',
        version: 2,
        previous: onboardingV1,
      }),
    ).toThrow('previous must be the earlier definition of workflow');
  });
});

describe('check --against: what a deploy would do to instances in flight', () => {
  it('lists every change made in place that cancels, moves or orphans pending tasks', () => {
    const codes = compareDefinitions(v1, changedInPlace).map((f) => `${f.severity} ${f.code}`);
    expect(codes.sort()).toEqual([
      'error schedule-moved', // tips after 2 days, not 1
      'error schedule-removed', // no survey on activation
      'error state-removed', // 'active' is gone
      'error task-type-removed', // send-survey is gone
      'error transition-retargeted', // Activated now leads to 'done'
    ]);
    const moved = compareDefinitions(v1, changedInPlace).find((f) => f.code === 'schedule-moved');
    expect(moved?.message).toBe(
      "workflow 'onboarding': state 'new' on 'SignedUp' schedules 'send-tips' in 2d instead of in 1d: its pending tasks would move at their instance's next decision; to leave instances in flight alone, bump version and keep the running definition as previous",
    );
  });

  it('finds nothing to fear in a new version that keeps the running one', () => {
    expect(compareDefinitions(v1, versioned)).toEqual([
      {
        severity: 'info',
        code: 'versioned',
        message:
          "workflow 'onboarding': version 2 for new instances; instances in flight finish under version 1, kept as previous",
      },
    ]);
  });

  it('finds nothing when nothing changed, also in definitions loaded from another module', () => {
    expect(compareDefinitions(v1, v1)).toEqual([]);
    expect(compareDefinitions(loadedFromCheckout(), v1)).toEqual([]);
  });
});

/** The options of a small `onboarding` definition, to vary one at a time. */
function onboardingV2Options() {
  return {
    name: 'onboarding',
    key: 'detail.userId',
    events: onboardingV2.events,
    initial: 'new',
    startOverOn: [],
    states: { new: {}, done: { final: true } },
  } as Parameters<typeof defineWorkflow>[0];
}
