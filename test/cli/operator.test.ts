import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import type { DevState } from '../../local/dev-state';
import definitions from '../../workflows';

const MIN = 60_000;
let cloud: LocalCloud;
let t0: number;

/** Runs the command line and returns what it printed. */
async function hourglass(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, {
    cwd: process.cwd(),
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
  });
  return { code, out, err };
}

const event = (id: string, detailType: string, detail: object, time: number) => ({
  version: '0',
  id,
  source: 'shop',
  'detail-type': detailType,
  account: '000000000000',
  time: new Date(time).toISOString(),
  region: 'us-east-1',
  resources: [],
  detail,
});

beforeAll(async () => {
  // Real time: the operator commands read the table as an operator would, now.
  cloud = await startLocalCloud({ definitions });
  const state: DevState = {
    eventbridge: cloud.endpoints.eventbridge,
    busName: cloud.busName,
    dynamodb: cloud.endpoints.dynamodb,
    tableName: cloud.tableName,
    workflows: 'workflows/index.ts',
    sqs: cloud.endpoints.sqs,
    deadLetterQueues: cloud.deadLetterQueues,
    redrive: cloud.redrive,
    pid: process.pid,
  };
  const file = join(mkdtempSync(join(tmpdir(), 'hourglass-operator-')), 'dev.json');
  writeFileSync(file, JSON.stringify(state));
  process.env.HOURGLASS_DEV_STATE_FILE = file;
  t0 = Date.now();
  await cloud.deliverRaw([
    event('reg-u1', 'UserRegistered', { userId: 'u1', email: 'u1@x.io' }, t0),
    event('reg-u2', 'UserRegistered', { userId: 'u2', email: 'u2@x.io' }, t0),
    event('reg-u3', 'UserRegistered', { userId: 'u3', email: 'u3@x.io' }, t0),
    // Refused by its schema: shows in u1's history as a rejection.
    event('bad-u1', 'OrderPlaced', { userId: 'u1', orderId: 'o1', total: 'lots' }, t0),
    event('ord-u2', 'OrderPlaced', { userId: 'u2', orderId: 'o2', total: 10 }, t0 + 1_000),
  ]);
  await cloud.settle({ until: t0 + 2_000 });
}, 120_000);

afterAll(async () => {
  await cloud?.stop();
});

describe('hourglass inspect', () => {
  it('shows the state, each pending task with its due time and what would cancel it, and the history with rejections marked', async () => {
    const { code, out, err } = await hourglass('inspect', 'welcome-discount', 'u1', '--local');
    expect(code).toBe(0);
    expect(err).toContain('(the local cloud of npm run dev, table ');
    const due = new Date(t0 + 30 * MIN).toISOString();
    expect(out).toContain('welcome-discount / u1: state waiting');
    // Relative to now: about 30 minutes, less however long this machine took to get here.
    expect(out).toContain(
      `send-discount-code welcome-discount#u1#send-discount-code#1  SCHEDULED  due ${due} (in `,
    );
    expect(out).toContain(
      `, deadline ${new Date(t0 + 150 * MIN).toISOString()}, 0 attempts so far`,
    );
    expect(out).toContain('    cancels by OrderPlaced, moving to converted');
    expect(out).toMatch(/ {2}\S+ {2}event {4}UserRegistered reg-u1, applied /);
    expect(out).toMatch(
      /! \S+ {2}rejected bad-u1: invalid detail for 'OrderPlaced': detail\.total/,
    );
  });

  it('gives the same report as JSON, and says when an instance does not exist', async () => {
    const { out } = await hourglass('inspect', 'welcome-discount', 'u2', '--json');
    const report = JSON.parse(out);
    expect(report).toMatchObject({ state: 'converted', final: true, pending: [] });
    expect(report.history.map((h: { kind: string }) => h.kind)).toContain('task');
    expect((await hourglass('inspect', 'welcome-discount', 'nobody')).out).toBe(
      'welcome-discount / nobody: no instance (no event for this key was accepted, or it expired)\n',
    );
  });
});

describe('hourglass tasks', () => {
  it('lists open tasks from the status index, earliest first, filtered by workflow and type', async () => {
    const { code, out } = await hourglass(
      'tasks',
      '--workflow',
      'welcome-discount',
      '--type',
      'send-discount-code',
    );
    expect(code).toBe(0);
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^RUNS AT +WHEN +STATUS +TYPE +INSTANCE +ATTEMPTS +TASK$/);
    expect(lines.slice(1).sort()).toEqual(
      ['u1', 'u3'].map((user) =>
        expect.stringMatching(
          new RegExp(
            `SCHEDULED +send-discount-code +welcome-discount/${user} +0 +welcome-discount#${user}#send-discount-code#1$`,
          ),
        ),
      ),
    );
  });

  it('lists an instance’s finished tasks by its key, and refuses what the index cannot answer', async () => {
    const cancelled = await hourglass(
      'tasks',
      '--workflow',
      'welcome-discount',
      '--key',
      'u2',
      '--status',
      'cancelled',
      '--json',
    );
    expect(JSON.parse(cancelled.out).tasks).toEqual([
      expect.objectContaining({ taskId: 'welcome-discount#u2#send-discount-code#1' }),
    ]);
    // By instance, every status unless asked; the table's keys are not listed.
    const all = JSON.parse(
      (await hourglass('tasks', '--workflow', 'welcome-discount', '--key', 'u2', '--json')).out,
    );
    expect(all.tasks).toEqual([
      {
        taskId: 'welcome-discount#u2#send-discount-code#1',
        workflow: 'welcome-discount',
        key: 'u2',
        taskType: 'send-discount-code',
        status: 'CANCELLED',
        attempt: 0,
        runAt: expect.stringMatching(/Z$/),
        dueAt: expect.stringMatching(/Z$/),
      },
    ]);
    expect((await hourglass('tasks', '--type', 'send-discount-cod')).err).toMatch(
      /^hourglass: unknown task type 'send-discount-cod'; the task types are: /m,
    );
    expect((await hourglass('tasks', '--status', 'COMPLETED')).err).toBe(
      'hourglass: COMPLETED tasks are not in the status index (it holds open, failed and expired tasks); list them by instance with --workflow NAME --key KEY\n',
    );
    expect((await hourglass('tasks', '--status', 'DONE')).err).toMatch(
      /--status must be one of SCHEDULED, RUNNING, COMPLETED, FAILED, CANCELLED, EXPIRED, got 'DONE'/,
    );
  });

  it('says what to do when nothing can be reached', async () => {
    const saved = process.env.HOURGLASS_DEV_STATE_FILE;
    process.env.HOURGLASS_DEV_STATE_FILE = '/nonexistent/dev.json';
    try {
      expect((await hourglass('tasks')).err).toBe(
        'hourglass: nothing to point at: pass --stack NAME for a deployed stack (with AWS_PROFILE and AWS_REGION set as for the AWS CLI), or start the local cloud with "npm run dev" and pass --local\n',
      );
      expect((await hourglass('tasks', '--local')).err).toBe(
        'hourglass: no local cloud is running: start it with "npm run dev" in another terminal\n',
      );
    } finally {
      process.env.HOURGLASS_DEV_STATE_FILE = saved;
    }
  });
});

/** Waits until `check` holds, polling; fails after `ms` with what it was waiting for. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 20_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`still waiting for ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('hourglass cancel', () => {
  const TASK = 'welcome-discount#u1#send-discount-code#1';

  it('cancels a pending task through the instance, records who and why, and the relay publishes its cancellation', async () => {
    const { code, out } = await hourglass(
      'cancel',
      TASK,
      '--reason',
      'asked by support',
      '--by',
      'ada',
    );
    expect(code).toBe(0);
    expect(out).toMatch(
      new RegExp(`^cancelled ${TASK} \\(recorded as op-\\S+, by ada: asked by support\\)\n$`),
    );
    const report = JSON.parse((await hourglass('inspect', 'welcome-discount', 'u1', '--json')).out);
    expect(report.pending).toEqual([]);
    expect(report.history.map((h: { text: string }) => h.text)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(`^TaskCancelledByOperator op-\\S+ of ${TASK} by ada: asked by support`),
        ),
        expect.stringMatching(/→ CANCELLED \(op-/),
      ]),
    );
    await eventually('the TaskCancelled lifecycle event', () =>
      cloud.busEvents.some(
        (e) =>
          e['detail-type'] === 'TaskCancelled' && (e.detail as { taskId?: string }).taskId === TASK,
      ),
    );
  });

  it('refuses a task that is already finished, an unknown id and a missing reason, saying why', async () => {
    // The error is the last line; the line before it says where the command pointed.
    const refusal = async (...argv: string[]) =>
      (await hourglass(...argv)).err.trim().split('\n').at(-1);
    expect(await refusal('cancel', TASK, '--reason', 'again')).toMatch(
      new RegExp(
        `^hourglass: task '${TASK}' is already CANCELLED \\(at \\S+\\): it cannot be cancelled$`,
      ),
    );
    expect(await refusal('cancel', 'nope', '--reason', 'x')).toMatch(
      /^hourglass: 'nope' is not a task id of these workflows \(welcome-discount, .*\); copy one from hourglass tasks or inspect$/,
    );
    expect(
      await refusal('cancel', 'welcome-discount#u9#send-discount-code#1', '--reason', 'x'),
    ).toBe(
      "hourglass: no task 'welcome-discount#u9#send-discount-code#1' (it never existed, or its row expired)",
    );
    expect(await refusal('cancel', TASK)).toBe(
      "hourglass: cancel needs --reason TEXT: it is recorded in the task's history",
    );
  });
});

describe('hourglass rejected', () => {
  it('lists rejected events newest first with their reasons, by workflow when asked', async () => {
    const { code, out } = await hourglass('rejected');
    expect(code).toBe(0);
    expect(out).toMatch(
      /^\S+ {2}bad-u1 {2}\(no workflow\) {2}invalid detail for 'OrderPlaced': detail\.total: Invalid input: expected number, received string\n$/,
    );
    const json = JSON.parse((await hourglass('rejected', '--json', '--limit', '5')).out);
    expect(json).toEqual({
      events: [expect.objectContaining({ eventId: 'bad-u1', workflow: null })],
      more: false,
    });
    expect((await hourglass('rejected', '--workflow', 'product-publish')).out).toBe(
      'No rejected events.\n',
    );
    expect((await hourglass('rejected', '--days', '0')).err).toMatch(
      /--days must be a whole number above 0, got '0'/,
    );
  });
});

describe('hourglass reschedule', () => {
  const TASK = 'welcome-discount#u3#send-discount-code#1';

  it('moves a pending task, recorded in its history, and its timer follows', async () => {
    const before = Date.now();
    const { code, out } = await hourglass(
      'reschedule',
      TASK,
      '--after',
      '2h',
      '--reason',
      'customer asked for later',
    );
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`^moved ${TASK} to \\S+ \\(recorded as op-`));
    const report = JSON.parse((await hourglass('inspect', 'welcome-discount', 'u3', '--json')).out);
    const due = Date.parse(report.pending[0].dueAt);
    expect(due).toBeGreaterThanOrEqual(before + 120 * MIN);
    expect(due).toBeLessThanOrEqual(Date.now() + 120 * MIN);
    expect(report.history.map((h: { text: string }) => h.text)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          new RegExp(
            `^TaskRescheduledByOperator op-\\S+ of ${TASK} to \\S+ by \\S+: customer asked for later`,
          ),
        ),
      ]),
    );
    const listed = await hourglass(
      'tasks',
      '--workflow',
      'welcome-discount',
      '--key',
      'u3',
      '--json',
    );
    const at = new Date(due).toISOString();
    expect(JSON.parse(listed.out).tasks[0]).toMatchObject({ runAt: at, dueAt: at });
  });

  it('refuses a time in the past and a missing --at or --after, saying what to do', async () => {
    const last = async (...argv: string[]) =>
      (await hourglass(...argv)).err.trim().split('\n').at(-1);
    expect(await last('reschedule', TASK, '--at', '2020-01-01T00:00:00Z', '--reason', 'x')).toBe(
      'hourglass: 2020-01-01T00:00:00.000Z is in the past; to run the task now, reschedule it to now (--after 0s)',
    );
    expect(await last('reschedule', TASK, '--reason', 'x')).toMatch(
      /^hourglass: reschedule needs TASK_ID and one of --at ISO or --after DURATION/,
    );
  });
});

describe('hourglass retry', () => {
  it('refuses a task that has not failed, saying what to do instead', async () => {
    const { code, err } = await hourglass(
      'retry',
      'welcome-discount#u3#send-discount-code#1',
      '--reason',
      'try again',
      '--local',
    );
    expect(code).toBe(2);
    expect(err).toContain(
      "task 'welcome-discount#u3#send-discount-code#1' is SCHEDULED: only a FAILED or EXPIRED task can be retried (it has not run yet; reschedule it to run it sooner)",
    );
  });

  it('needs a reason', async () => {
    const { code, err } = await hourglass(
      'retry',
      'welcome-discount#u3#send-discount-code#1',
      '--local',
    );
    expect(code).toBe(2);
    expect(err).toContain("retry needs --reason TEXT: it is recorded in the task's history");
  });
});

describe('hourglass redrive', () => {
  const sqs = () =>
    new SQSClient({
      endpoint: cloud.endpoints.sqs,
      region: 'us-east-1',
      credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
    });

  it('counts with --dry-run, then moves an event ingest gave up on back, and ingest applies it', async () => {
    const eventTime = Date.now() - 60_000; // it waited a minute in the DLQ
    await sqs().send(
      new SendMessageCommand({
        QueueUrl: cloud.redrive.ingest.dlqUrl,
        MessageBody: JSON.stringify(
          event('reg-u7', 'UserRegistered', { userId: 'u7', email: 'u7@x.io' }, eventTime),
        ),
      }),
    );
    const dry = await hourglass('redrive', 'ingest', '--dry-run', '--local');
    expect(dry.err).toBe('(the local cloud of npm run dev, table hourglass-local)\n');
    expect(dry.code).toBe(0);
    expect(dry.out).toBe(
      '1 message(s) wait in the ingest DLQ; run again without --dry-run to move them back\n',
    );
    const moved = await hourglass('redrive', 'ingest', '--local');
    expect(moved.code).toBe(0);
    expect(moved.out).toBe('moved 1 message(s) back (1 to hourglass-ingest)\n');
    expect(moved.err).toContain('moved 1 of about 1');
    await cloud.settle({ until: Date.now() + 1_000 });
    const inspect = await hourglass('inspect', 'welcome-discount', 'u7', '--local');
    expect(inspect.out).toContain('welcome-discount / u7: state waiting');
    // Due 30 minutes after the event's own time, not after the redrive.
    const due = /welcome-discount#u7#send-discount-code#1 {2}SCHEDULED {2}due (\S+) /.exec(
      inspect.out,
    );
    expect(Date.parse(due![1]!) - eventTime).toBe(30 * 60_000);
  });

  it("sends each timer in the task DLQ to its own task type's queue, and leaves what is not a timer", async () => {
    const timer = {
      taskId: 'welcome-discount#u3#send-discount-code#1',
      workflow: 'welcome-discount',
      key: 'u3',
      taskType: 'send-discount-code',
      generation: 1,
      runAt: Date.now() + 30 * 60_000,
    };
    for (const body of [JSON.stringify(timer), 'not a timer message'])
      await sqs().send(
        new SendMessageCommand({ QueueUrl: cloud.redrive.tasks.dlqUrl, MessageBody: body }),
      );
    const moved = await hourglass('redrive', 'tasks', '--local');
    expect(moved.out).toBe(
      'moved 1 message(s) back (1 to hourglass-task-send-discount-code); left 1 that are not timer messages in the DLQ\n',
    );
    expect(moved.code).toBe(1);
  });

  it('says which DLQs there are when none is named', async () => {
    const { code, err } = await hourglass('redrive', '--local');
    expect(code).toBe(2);
    expect(err).toContain('redrive needs the DLQ to move back: ingest');
  });
});

describe('bulk cancel and retry by filter', () => {
  beforeAll(async () => {
    const now = Date.now();
    await cloud.deliverRaw(
      ['b1', 'b2', 'b3'].map((user) =>
        event(`cart-${user}`, 'CheckoutStarted', { userId: user, cartId: `c-${user}` }, now),
      ),
    );
    await cloud.settle({ until: now + 2_000 });
  });

  it('says how many match, and which, with --dry-run, and changes nothing', async () => {
    const dry = await hourglass(
      'cancel',
      '--type',
      'send-cart-reminder',
      '--reason',
      'campaign pulled',
      '--dry-run',
      '--local',
    );
    expect(dry.code).toBe(0);
    expect(dry.out).toMatch(/^would cancel 3 task\(s\):\n/);
    for (const user of ['b1', 'b2', 'b3'])
      expect(dry.out).toContain(`abandoned-checkout#${user}#send-cart-reminder#1  SCHEDULED`);
    const still = await hourglass('tasks', '--type', 'send-cart-reminder', '--local', '--json');
    expect(JSON.parse(still.out).tasks).toHaveLength(3);
  });

  it('cancels each with progress, and a second run finds nothing left to do', async () => {
    const run = await hourglass(
      'cancel',
      '--type',
      'send-cart-reminder',
      '--reason',
      'campaign pulled',
      '--local',
    );
    expect(run.code).toBe(0);
    expect(run.out).toBe('cancelled 3 of 3 task(s)\n');
    expect(run.err).toContain('3 task(s) match; cancelling…');
    expect(run.err).toContain('3 of 3');
    const again = await hourglass(
      'cancel',
      '--type',
      'send-cart-reminder',
      '--reason',
      'campaign pulled',
      '--local',
    );
    expect(again.out).toBe('no task matches: nothing to cancel\n');
  });

  it('refuses a bulk action with no filter, and a status the action does not apply to', async () => {
    const none = await hourglass('retry', '--status', 'FAILED', '--reason', 'r', '--local');
    expect(none.code).toBe(2);
    expect(none.err).toContain(
      'a bulk retry needs a filter: --workflow, --type, --key, --due-before or --due-after',
    );
    const wrong = await hourglass(
      'cancel',
      '--type',
      'send-cart-reminder',
      '--status',
      'FAILED',
      '--reason',
      'r',
      '--local',
    );
    expect(wrong.code).toBe(2);
    expect(wrong.err).toContain('cancel applies to SCHEDULED tasks, not --status FAILED');
  });
});

describe('one-task commands and the bulk-only flags', () => {
  it('refuses --dry-run on a one-task cancel instead of cancelling for real', async () => {
    const { code, err } = await hourglass(
      'cancel',
      'welcome-discount#u3#send-discount-code#1',
      '--reason',
      'r',
      '--dry-run',
      '--local',
    );
    expect(code).toBe(2);
    expect(err).toContain('--dry-run is for the bulk form (hourglass cancel with a filter');
    const still = await hourglass('inspect', 'welcome-discount', 'u3', '--local');
    expect(still.out).toContain('welcome-discount#u3#send-discount-code#1  SCHEDULED');
  });

  it('refuses a TASK_ID and a filter together', async () => {
    const { code, err } = await hourglass(
      'reschedule',
      'welcome-discount#u3#send-discount-code#1',
      '--after',
      '1h',
      '--workflow',
      'welcome-discount',
      '--reason',
      'r',
      '--local',
    );
    expect(code).toBe(2);
    expect(err).toContain('give reschedule either a TASK_ID or a filter');
  });

  it('refuses an unknown workflow in rejected, rather than listing nothing', async () => {
    const { code, err } = await hourglass('rejected', '--workflow', 'welcom-discount', '--local');
    expect(code).toBe(2);
    expect(err).toContain('welcom-discount');
  });
});

describe('hourglass ui', () => {
  it('refuses a port that is not a port number, saying what it takes', async () => {
    const { code, err } = await hourglass('ui', '--port', 'eighty', '--local');
    expect(code).toBe(2);
    expect(err).toBe(
      "hourglass: --port must be a port number (0 picks a free one), got 'eighty'\n",
    );
  });
});

describe('--stack, with no AWS configuration', () => {
  const saved = { ...process.env };
  beforeAll(() => {
    for (const name of ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_ACCESS_KEY_ID'])
      delete process.env[name];
    process.env.AWS_CONFIG_FILE = '/nonexistent/hourglass-test/config';
    process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/hourglass-test/credentials';
  });
  afterAll(() => {
    process.env = saved;
  });

  it('says which setting is missing, for the operator commands and for emit alike', async () => {
    const inspect = await hourglass('inspect', 'welcome-discount', 'u1', '--stack', 'Shop');
    expect(inspect.code).toBe(2);
    expect(inspect.err).toBe(
      "hourglass: no AWS region to find stack 'Shop' in: set AWS_REGION (or a region in your AWS_PROFILE)\n",
    );
    const emit = await hourglass(
      'emit',
      'UserRegistered',
      '{"userId":"u9","email":"u9@x.io"}',
      '--stack',
      'Shop',
    );
    expect(emit.code).toBe(2);
    expect(emit.err).toContain("hourglass: no AWS region to find stack 'Shop' in");
  });
});
