import { describe, expect, it } from 'vitest';
import { TIMER_TASK_TYPE } from '../../shared/core';
import { scenario } from '../../shared/core/testing';
import definitions, {
  SubscriptionStarted,
  sendTrialMail,
  TrialStarted,
  trialConversion,
} from '../../workflows';

/**
 * J6 `trial-conversion`: the example journey with timers that need no worker. The trial
 * lapses on its own 14 days in; the win-back mail goes out a day later; 30 days after that
 * the account is closed. Every assertion says when, against when it was due.
 */

const started = { accountId: 'a1', email: 'a1@example.com' };

describe('J6 trial-conversion, through the simulator', () => {
  it('mails 3 days before the end, lapses at 14 days, offers a win-back a day later, closes 30 days on', async () => {
    const s = scenario(definitions).emit(TrialStarted, started);
    const result = await s.run('60d');
    expect(
      result.tasksOf(sendTrialMail, 'a1').map((t) => [t.input, t.dueAt, t.startedAt, t.status]),
    ).toEqual([
      [{ kind: 'ending-soon', email: 'a1@example.com' }, s.time('11d'), s.time('11d'), 'COMPLETED'],
      [{ kind: 'win-back' }, s.time('15d'), s.time('15d'), 'COMPLETED'],
    ]);
    expect(result.tasksOf(TIMER_TASK_TYPE, 'a1').map((t) => [t.dueAt, t.finishedAt])).toEqual([
      [s.time('14d'), s.time('14d')],
      [s.time('44d'), s.time('44d')],
    ]);
    expect(result.instance(trialConversion, 'a1').state).toBe('closed');
  });

  it('never mails at night: a trial started at 22:30 in Paris gets its mail at 08:00', async () => {
    // 21:30 UTC is 22:30 in Paris (winter); 11 days later the mail waits for 08:00 (07:00 UTC).
    const s = scenario(definitions, { start: '2026-01-05T21:30:00.000Z' }).emit(
      TrialStarted,
      started,
    );
    const result = await s.run('13d');
    const [endingSoon] = result.tasksOf(sendTrialMail, 'a1');
    expect(endingSoon).toMatchObject({
      dueAt: '2026-01-17T07:00:00.000Z',
      startedAt: '2026-01-17T07:00:00.000Z',
    });
    expect(endingSoon!.timeline[1]?.cause).toContain(
      "by quiet hours 21:00–08:00 Europe/Paris (journey control 'marketing-hours')",
    );
  });

  it('a subscription during the trial cancels the mail and the timer; nothing more happens', async () => {
    const s = scenario(definitions)
      .emit(TrialStarted, started)
      .emit(SubscriptionStarted, { accountId: 'a1', plan: 'pro' }, { at: '5d' });
    const result = await s.run('60d');
    expect(result.task(sendTrialMail, 'a1')).toMatchObject({
      status: 'CANCELLED',
      finishedAt: s.time('5d'),
    });
    expect(result.task(TIMER_TASK_TYPE, 'a1').status).toBe('CANCELLED');
    expect(result.runs).toEqual([]);
    expect(result.instance(trialConversion, 'a1').state).toBe('subscribed');
  });

  it('a subscription after the lapse wins the account back before the offer is sent', async () => {
    const s = scenario(definitions)
      .emit(TrialStarted, started)
      .emit(SubscriptionStarted, { accountId: 'a1', plan: 'pro' }, { at: '14d12h' });
    const result = await s.run('60d');
    const [endingSoon, winBack] = result.tasksOf(sendTrialMail, 'a1');
    expect(endingSoon).toMatchObject({ status: 'COMPLETED', startedAt: s.time('11d') });
    expect(winBack).toMatchObject({ status: 'CANCELLED', finishedAt: s.time('14d12h') });
    expect(result.instance(trialConversion, 'a1').state).toBe('subscribed');
  });
});
