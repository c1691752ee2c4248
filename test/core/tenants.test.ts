import { describe, expect, it } from 'vitest';
import {
  check,
  DefinitionError,
  defineHourglass,
  defineJourneyControl,
  defineTaskType,
  defineWorkflow,
} from '../../shared/core';
import { scenario } from '../../shared/core/testing';
import { buildReport, ReportRequested, reports } from '../fixtures/reports/definitions';

/**
 * Fairness between tenants: a task type names where the tenant is in the event that
 * schedules it. Each task keeps its tenant, and every message of it carries the tenant as
 * its SQS message group (the runtime's side is tested in test/aws and test/e2e).
 */

const definitions = defineHourglass({ taskTypes: [buildReport], workflows: [reports] });

describe('a task type with a tenant', () => {
  it('gives each task the tenant read from the event that scheduled it', async () => {
    const s = scenario(definitions);
    const at = s.time('1m');
    const result = await s
      .emit(ReportRequested, { reportId: 'r1', accountId: 'acme', runAt: at })
      .emit(ReportRequested, { reportId: 'r2', accountId: 'globex', runAt: at })
      .run('1h');
    expect(result.tasks.map((t) => [t.key, t.tenant, t.startedAt])).toEqual([
      ['r1', 'acme', at],
      ['r2', 'globex', at],
    ]);
  });

  it('rejects an event without the tenant, saying where it was looked for', async () => {
    const s = scenario(definitions);
    const result = await s
      .emit(ReportRequested, { reportId: 'r3', accountId: '', runAt: s.time('1m') })
      .run('1h');
    expect(result.tasks).toEqual([]);
    expect(result.rejected[0]?.reason).toContain(
      'detail.accountId is "" (string), not 1 to 128 letters, digits or punctuation: task type \'build-report\' groups its tasks by tenant there (its tenant option)',
    );
  });

  it('refuses a tenant that is not a path', () => {
    expect(() => defineTaskType({ name: 'bad', tenant: 'detail..accountId' })).toThrow(
      DefinitionError,
    );
    expect(() => defineTaskType({ name: 'bad', tenant: 'detail..accountId' })).toThrow(
      'tenant must be a dotted path',
    );
  });
});

describe('hourglass check on the paths a task type reads', () => {
  it('refuses a tenant path the scheduling event does not have, and warns on a zone path', () => {
    const typo = defineTaskType({ name: 'build-report', tenant: 'detail.orgId' });
    const control = defineJourneyControl({
      name: 'reporting',
      timeZone: { path: 'detail.tz', default: 'UTC' },
      quietHours: { from: '22:00', to: '06:00' },
    });
    const quiet = defineTaskType({ name: 'quiet-report', journey: { control } });
    const rule = defineWorkflow({
      name: 'reports',
      key: 'detail.reportId',
      events: [ReportRequested],
      initial: 'idle',
      states: {
        idle: { on: { ReportRequested: { schedule: [{ task: typo }, { task: quiet }] } } },
      },
    });
    const findings = check(defineHourglass({ taskTypes: [typo, quiet], workflows: [rule] }));
    expect(findings.map((f) => `${f.severity} ${f.code}`)).toEqual(
      expect.arrayContaining(['error path-not-in-event', 'warning zone-not-in-event']),
    );
    expect(findings.find((f) => f.code === 'path-not-in-event')?.message).toContain(
      "task type 'build-report' reads its tenant from detail.orgId, which event 'ReportRequested' does not have",
    );
  });
});
