import { describe, expect, it } from 'vitest';
import { isFinished, simulate } from '../../shared/core';
import definitions from '../../workflows';
import { arriving, at, days, hours, inTimeOrder, minutes, shopEvent, T0 } from '../support/events';

const registered = (userId: string, offset = 0) =>
  shopEvent('UserRegistered', { userId, email: `${userId}@example.com` }, offset);
const uploaded = (imageId: string, offset = 0) =>
  shopEvent('ImageUploaded', { imageId, url: `s3://b/${imageId}`, bytes: 10 }, offset);

describe('simulate', () => {
  it('fails a task after its last attempt, with backoff between attempts', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(uploaded('i1')),
      failures: { 'compress-image': 99 },
    });

    expect(result.runs.map((r) => r.at)).toEqual([
      at(0),
      at(10_000),
      at(30_000),
      at(70_000),
      at(150_000),
    ]);
    expect(result.tasks).toEqual([
      expect.objectContaining({ status: 'FAILED', attempts: 5, finishedAt: at(150_000) }),
    ]);
    expect(result.instances).toEqual([
      expect.objectContaining({ workflow: 'image-compression', state: 'idle' }),
    ]);
  });

  it('runs a past-due task at once when it arrives', async () => {
    const result = await simulate({ definitions, events: [arriving(registered('u1'), hours(1))] });
    expect(result.runs[0]).toMatchObject({ taskType: 'send-discount-code', at: at(hours(1)) });
  });

  it('expires without running a task whose deadline passed before it arrived', async () => {
    const result = await simulate({ definitions, events: [arriving(registered('u1'), hours(3))] });
    expect(result.runs).toEqual([]);
    expect(result.tasks[0]).toMatchObject({
      status: 'EXPIRED',
      finishedAt: at(hours(3)),
      attempts: 0,
    });
  });

  it('runs a task without a deadline when its workers come back', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(uploaded('i1')),
      outages: [{ taskType: 'compress-image', from: T0 - 1, to: T0 + hours(5) }],
    });
    expect(result.runs).toEqual([expect.objectContaining({ at: at(hours(5)) })]);
  });

  it('stops the clock at until, leaving later tasks scheduled', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(registered('u1')),
      until: T0 + minutes(10),
    });
    expect(result.tasks).toEqual([
      expect.objectContaining({ status: 'SCHEDULED', startedAt: null }),
    ]);
    expect(result.tasks.every(isFinished)).toBe(false);
  });

  it('records every rejected event with its reason, and goes on with the others', async () => {
    const bad = shopEvent('UserRegistered', { userId: 'u1', email: 'not-an-email' }, 0, 'bad');
    const result = await simulate({
      definitions,
      events: inTimeOrder(bad, registered('u2')),
      until: T0 + days(1),
    });
    expect(result.rejected).toEqual([
      { eventId: 'bad', reason: expect.stringContaining('detail.email') },
    ]);
    expect(result.tasks.map((t) => [t.key, t.taskType])).toEqual([
      ['u2', 'send-discount-code'],
      ['u2', 'discount-reminder'],
    ]);
  });

  it('refuses failures or outages for a task type that does not exist', async () => {
    await expect(simulate({ definitions, events: [], failures: { nope: 1 } })).rejects.toThrow(
      "failures names task type 'nope', which is not defined; the task types are: send-discount-code",
    );
    await expect(
      simulate({ definitions, events: [], outages: [{ taskType: 'nope', from: 0, to: 1 }] }),
    ).rejects.toThrow("outages names task type 'nope'");
  });

  it('keeps a timeline of every state change, ending in exactly one terminal state', async () => {
    const result = await simulate({
      definitions,
      events: inTimeOrder(uploaded('i1')),
      failures: { 'compress-image': 1 },
    });
    expect(result.tasks[0]?.timeline.map((e) => e.status)).toEqual([
      'SCHEDULED',
      'RUNNING',
      'SCHEDULED',
      'RUNNING',
      'COMPLETED',
    ]);
  });
});
