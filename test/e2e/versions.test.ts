import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startLocalCloud } from '../../local/cloud';
import type { HourglassDefinitions } from '../../shared/core';
import v1 from '../fixtures/versions/v1';
import versioned from '../fixtures/versions/versioned';

/**
 * A new workflow version deployed under a running instance, on the local cloud: the cloud
 * runs version 1 and a user signs up; it stops, and starts again on the same DynamoDB data
 * with version 2 (which keeps version 1 as previous). The user who signed up under version
 * 1 finishes under it (activation schedules the survey); a new user gets version 2's rules.
 */

const SCALE = 60;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-02-02T10:00:00.000Z');
const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A free loopback port, for both runs: the functions' AWS clients are made once per process. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let ports: { dynamodb: number; sqs: number; eventbridge: number; scheduler: number } | undefined;
const start = async (definitions: HourglassDefinitions, dataDir: string, origin: number) => {
  ports ??= {
    dynamodb: await freePort(),
    sqs: await freePort(),
    eventbridge: await freePort(),
    scheduler: await freePort(),
  };
  return startLocalCloud({
    definitions,
    timeScale: SCALE,
    origin,
    dataDir,
    ports,
    workerEntry: (t) => fileURLToPath(new URL(`../fixtures/versions/${t}.ts`, import.meta.url)),
  });
};

describe('a new version deployed under a running instance, on the local cloud', () => {
  it('lets the instance finish under the version it started with, and starts new ones under the new one', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'hourglass-versions-'));
    dirs.push(dataDir);

    const first = await start(v1, dataDir, T0);
    try {
      await first.emit([{ source: 'app', detailType: 'SignedUp', detail: { userId: 'u1' } }]);
      await first.settle({ until: T0 + 5 * 60_000 });
      expect((await first.instances()).map((i) => [i.key, i.state])).toEqual([['u1', 'trying']]);
    } finally {
      await first.stop();
    }

    const second = await start(versioned, dataDir, T0 + HOUR);
    try {
      await second.emit([
        { source: 'app', detailType: 'Activated', detail: { userId: 'u1' } },
        { source: 'app', detailType: 'SignedUp', detail: { userId: 'u2' } },
      ]);
      await second.settle({ until: T0 + HOUR + 5 * 60_000 });
      const states = Object.fromEntries((await second.instances()).map((i) => [i.key, i.state]));
      // Version 1's rules for u1: activation leads to 'active' and schedules the survey.
      expect(states).toEqual({ u1: 'active', u2: 'trying' });
      const tasks = await second.tasks();
      const survey = tasks.find((t) => t.key === 'u1' && t.taskType === 'send-survey');
      expect(survey).toMatchObject({ status: 'SCHEDULED' });
      expect(survey!.dueAt - (T0 + HOUR)).toBeGreaterThanOrEqual(7 * DAY - 60_000);
      expect(survey!.dueAt - (T0 + HOUR)).toBeLessThanOrEqual(7 * DAY + 60_000);
      // Version 2's rules for u2: tips two days after sign-up (version 1 said one).
      const tips = tasks.find((t) => t.key === 'u2' && t.taskType === 'send-tips');
      expect(tips!.dueAt - (T0 + HOUR)).toBeGreaterThanOrEqual(2 * DAY - 60_000);
      expect(tips!.dueAt - (T0 + HOUR)).toBeLessThanOrEqual(2 * DAY + 60_000);
    } finally {
      await second.stop();
    }
  }, 120_000);
});
