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
