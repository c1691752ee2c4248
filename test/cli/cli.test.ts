import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { at, days, minutes, shopEvent } from '../support/events';

const root = resolve(import.meta.dirname, '../..');

async function run(...argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { cwd: root, out: (t) => (out += t), err: (t) => (err += t) });
  return { code, out, err };
}

async function eventsFile(lines: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'hourglass-cli-'));
  const file = join(dir, 'events.jsonl');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

const line = (event: object, extra: object = {}) => JSON.stringify({ ...event, ...extra });

describe('hourglass check', () => {
  it('finds no problems in the journeys and exits 0', async () => {
    const { code, out } = await run('check');
    expect(code).toBe(0);
    expect(out).toBe(
      '7 workflows, 8 task types, 2 timers that need no worker (trial-conversion.trialing after 14d, trial-conversion.lapsed after 30d): 0 errors, 0 warnings\n',
    );
  });

  it('prints errors and warnings and exits 1 when there are errors', async () => {
    const { code, out } = await run('check', '--workflows', 'test/fixtures/flawed-workflows.ts');
    expect(code).toBe(1);
    expect(out).toContain(
      "error   unreachable-state: workflow 'flawed': state 'lonely' cannot be reached from 'a'",
    );
    expect(out).toContain('warning task-never-cancelled');
    expect(out).toContain('1 error, 1 warning');
  });

  it('with --against, lists what deploying over the running definitions would do in flight, and exits 1', async () => {
    const { code, out } = await run(
      'check',
      '--workflows',
      'test/fixtures/versions/changed-in-place.ts',
      '--against',
      'test/fixtures/versions/v1.ts',
    );
    expect(code).toBe(1);
    expect(out).toContain(
      "error   schedule-moved: workflow 'onboarding': state 'new' on 'SignedUp' schedules 'send-tips' in 2d instead of in 1d",
    );
    expect(out).toContain("error   task-type-removed: task type 'send-survey' is gone");
    expect(out).toContain('5 errors');
    // The same change as a new version that keeps the running one: nothing in flight moves.
    const versioned = await run(
      'check',
      '--workflows',
      'test/fixtures/versions/versioned.ts',
      '--against',
      'test/fixtures/versions/v1.ts',
    );
    expect(versioned.code).toBe(0);
    expect(versioned.out).toContain('instances in flight finish under version 1, kept as previous');
  });

  it('exits 2 with one line when the module exports no definitions', async () => {
    const { code, err } = await run('check', '--workflows', 'test/fixtures/broken-workflows.ts');
    expect(code).toBe(2);
    expect(err).toMatch(
      /^hourglass: .*broken-workflows\.ts does not export definitions: add "export default defineHourglass\(\{ taskTypes, workflows \}\)"\n$/,
    );
  });

  it('exits 2 when the module cannot be loaded', async () => {
    const { code, err } = await run('check', '--workflows', 'test/fixtures/missing.ts');
    expect(code).toBe(2);
    expect(err).toMatch(/^hourglass: cannot load workflows module .*missing\.ts/);
  });
});

describe('hourglass graph', () => {
  it('draws timers that need no worker and recurring schedules as labelled transitions', async () => {
    const { code, out } = await run('graph', 'trial-conversion');
    expect(code).toBe(0);
    expect(out).toContain('s_trialing --> s_lapsed : after 14d / schedule send-trial-mail in 1d');
    expect(out).toContain('s_lapsed --> s_closed : after 30d / cancel send-trial-mail');
    const recurring = await run(
      'graph',
      'digest',
      '--workflows',
      'test/fixtures/digest/definitions.ts',
    );
    expect(recurring.out).toContain(
      "s_new --> s_subscribed : Subscribed / schedule send-digest every '*/15 * * * *' detail.timeZone or UTC",
    );
  });

  it('prints the Mermaid diagram of a workflow', async () => {
    const { code, out } = await run('graph', 'welcome-discount');
    expect(code).toBe(0);
    expect(out).toMatch(/^stateDiagram-v2\n/);
    expect(out).toContain('cancel send-discount-code');
  });

  it('exits 2 naming the workflows there are when the name is unknown', async () => {
    const { code, err } = await run('graph', 'nope');
    expect(code).toBe(2);
    expect(err).toBe(
      "hourglass: unknown workflow 'nope'; the workflows are: welcome-discount, abandoned-checkout, image-compression, product-publish, discount-expiry, campaign-mail, trial-conversion\n",
    );
  });

  it('exits 2 without a workflow name', async () => {
    expect((await run('graph')).err).toBe('hourglass: graph needs a WORKFLOW name\n');
  });
});

describe('hourglass simulate', () => {
  it('says in the timeline why a task moved, and shows the timer that needs no worker', async () => {
    // J6: a trial started at 22:30 in Paris; its mail would fall due at night, 11 days on.
    const file = await eventsFile([
      line({
        id: 't1',
        source: 'shop',
        'detail-type': 'TrialStarted',
        time: '2026-01-05T21:30:00.000Z',
        detail: { accountId: 'a1', email: 'a1@x.io' },
      }),
    ]);
    const { code, out } = await run(
      'simulate',
      '--events',
      file,
      '--until',
      '2026-01-21T00:00:00Z',
    );
    expect(code).toBe(0);
    expect(out).toContain(
      "SCHEDULED  send-trial-mail      trial-conversion/a1  (moved from 2026-01-16T21:30:00.000Z to 2026-01-17T07:00:00.000Z by quiet hours 21:00–08:00 Europe/Paris (journey control 'marketing-hours'))",
    );
    expect(out).toContain('2026-01-19T21:30:00.000Z  COMPLETED  @timer');
    expect(out).toContain('instance trial-conversion/a1: lapsed');
  });

  it('prints the documented JSON: tasks, instances and rejected events', async () => {
    const file = await eventsFile([
      line(shopEvent('UserRegistered', { userId: 'u1', email: 'u1@x.io' }, 0, 'r1')),
      line(shopEvent('OrderPlaced', { userId: 'u1', orderId: 'o', total: 1 }, minutes(10), 'o1')),
      line(shopEvent('OrderPlaced', { userId: 'u1' }, minutes(11), 'bad')),
    ]);
    const { code, out } = await run('simulate', '--events', file, '--json');

    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({
      tasks: [
        {
          taskId: 'welcome-discount#u1#send-discount-code#1',
          workflow: 'welcome-discount',
          key: 'u1',
          taskType: 'send-discount-code',
          status: 'CANCELLED',
          dueAt: at(minutes(30)),
          startedAt: null,
          finishedAt: at(minutes(10)),
          attempts: 0,
          input: { userId: 'u1', email: 'u1@x.io' },
          lateCancel: false,
        },
      ],
      instances: [{ workflow: 'welcome-discount', key: 'u1', state: 'converted', context: {} }],
      rejected: [
        { eventId: 'bad', reason: expect.stringContaining("invalid detail for 'OrderPlaced'") },
      ],
    });
  });

  it('delivers events in arrivedAt order and honours --fail and --down', async () => {
    const file = await eventsFile([
      line(shopEvent('ImageUploaded', { imageId: 'i1', url: 'u', bytes: 1 }, 0, 'up')),
      line(shopEvent('UserRegistered', { userId: 'u1', email: 'u1@x.io' }, 0, 'r1'), {
        arrivedAt: at(0),
      }),
    ]);
    const { out } = await run(
      'simulate',
      '--events',
      file,
      '--json',
      '--fail',
      'compress-image=2',
      '--down',
      `send-discount-code@${at(0)}..${at(minutes(200))}`,
      '--until',
      at(minutes(300)),
    );
    const tasks = JSON.parse(out).tasks;
    expect(tasks).toEqual([
      expect.objectContaining({ taskType: 'compress-image', status: 'COMPLETED', attempts: 3 }),
      expect.objectContaining({ taskType: 'send-discount-code', status: 'EXPIRED', attempts: 0 }),
    ]);
  });

  it('prints a readable timeline without --json', async () => {
    const file = await eventsFile([
      line(shopEvent('UserRegistered', { userId: 'u1', email: 'u1@x.io' }, 0, 'r1')),
    ]);
    const { out } = await run('simulate', '--events', file, '--until', at(minutes(40)));
    expect(out).toContain(
      `${at(minutes(30))}  COMPLETED  send-discount-code   welcome-discount/u1  (attempt 1)`,
    );
    expect(out).toContain('tasks: 2, 1 COMPLETED, 1 SCHEDULED; late cancels: 0');
    expect(out).toContain('instance welcome-discount/u1: nudged');
    // The reminder still waiting says when it is due: 3 days after the code was sent.
    expect(out).toMatch(
      new RegExp(
        `SCHEDULED  discount-reminder .*  due ${at(minutes(30) + days(3)).replace(/[.]/g, '\\.')}`,
      ),
    );
  });

  it.each([
    [
      'a malformed line, naming the file and line',
      ['{"id":"a"}', '{nope'],
      /^hourglass: .*events\.jsonl:2: not valid JSON/,
    ],
    [
      'a line that is not an object',
      ['[1,2]'],
      /^hourglass: .*events\.jsonl:1: each line must be one JSON object/,
    ],
    [
      'a bad arrivedAt',
      ['{"id":"a","arrivedAt":"soon"}'],
      /^hourglass: .*events\.jsonl:1: arrivedAt must be an ISO-8601 time/,
    ],
  ])('exits 2 on %s', async (_, lines, message) => {
    const file = await eventsFile(lines);
    const { code, err } = await run('simulate', '--events', file);
    expect(code).toBe(2);
    expect(err).toMatch(message);
  });

  it.each([
    ['no --events', [], 'hourglass: simulate needs --events FILE.jsonl\n'],
    [
      'an unreadable file',
      ['--events', 'nowhere.jsonl'],
      'hourglass: cannot read nowhere.jsonl: ENOENT\n',
    ],
    [
      'a bad --fail',
      ['--events', 'docs/examples/journeys.jsonl', '--fail', 'compress-image'],
      'hourglass: --fail must be TASKTYPE=N with N a whole number, got "compress-image"\n',
    ],
    [
      'an unknown task type in --fail',
      ['--events', 'docs/examples/journeys.jsonl', '--fail', 'nope=1'],
      "hourglass: --fail: unknown task type 'nope'; the task types are: send-discount-code, discount-reminder, send-cart-reminder, compress-image, publish-product, end-discount, send-group-email, send-trial-mail\n",
    ],
    [
      'a bad --down',
      ['--events', 'docs/examples/journeys.jsonl', '--down', 'compress-image@soon'],
      'hourglass: --down must be TASKTYPE@FROM..TO with ISO times, got "compress-image@soon"\n',
    ],
    [
      'a backwards --down',
      ['--events', 'docs/examples/journeys.jsonl', '--down', `compress-image@${at(5)}..${at(0)}`],
      `hourglass: --down compress-image@${at(5)}..${at(0)}: TO must be after FROM\n`,
    ],
    [
      'a bad --until',
      ['--events', 'docs/examples/journeys.jsonl', '--until', 'tomorrow'],
      'hourglass: --until must be an ISO-8601 time with a UTC offset, such as "2026-11-22T09:30:00Z" or "2026-11-22T10:30:00+01:00", got "tomorrow" (string)\n',
    ],
  ])('exits 2 on %s', async (_, args, message) => {
    const { code, err } = await run('simulate', ...args);
    expect(code).toBe(2);
    expect(err).toBe(message);
  });
});

describe('hourglass usage', () => {
  it('exits 2 on an unknown command or option', async () => {
    expect(await run('frobnicate')).toMatchObject({
      code: 2,
      err: "hourglass: unknown command 'frobnicate'; the commands are check, graph, simulate, emit, dev, inspect, tasks, cancel, reschedule, retry, redrive, rejected, ui\n",
    });
    expect(await run('check', '--verbose')).toMatchObject({
      code: 2,
      err: 'hourglass: unknown option --verbose; see hourglass --help\n',
    });
    expect(await run('simulate', '--events')).toMatchObject({
      code: 2,
      err: 'hourglass: --events needs a value\n',
    });
  });

  it('prints usage with --help and exits 0', async () => {
    const { code, out } = await run('--help');
    expect(code).toBe(0);
    expect(out).toContain('hourglass simulate --events FILE.jsonl');
  });

  it('runs as the hourglass bin', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(root, 'bin/hourglass.mjs'), 'check'],
      { cwd: root },
    );
    expect(stdout).toBe(
      '7 workflows, 8 task types, 2 timers that need no worker (trial-conversion.trialing after 14d, trial-conversion.lapsed after 30d): 0 errors, 0 warnings\n',
    );
  });
});

describe('hourglass emit, beside a running dev cloud', () => {
  it('checks events against the workflows the dev cloud runs, not the project default', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hourglass-dev-state-'));
    const file = join(dir, 'dev.json');
    // A dev cloud running the example app: this process stands in for it (its pid is alive);
    // its bus is unreachable, so a checked event is refused only when sent.
    await writeFile(
      file,
      JSON.stringify({
        eventbridge: 'http://127.0.0.1:1',
        busName: 'b',
        dynamodb: 'http://127.0.0.1:1',
        tableName: 't',
        workflows: join(root, 'examples/trial-reminders/workflows.ts'),
        pid: process.pid,
      }),
    );
    const saved = process.env.HOURGLASS_DEV_STATE_FILE;
    process.env.HOURGLASS_DEV_STATE_FILE = file;
    try {
      const trial = await run(
        'emit',
        'TrialStarted',
        '{"accountId":"a1","email":"a@b.co","trialEndsAt":"2026-12-01T09:00:00Z"}',
      );
      expect(trial.out).toBe("→ workflow 'trial' key 'a1'\n");
      expect(trial.err).toMatch(/cannot reach the local cloud at http:\/\/127\.0\.0\.1:1/);
      // J1's event is not among what that dev cloud runs.
      expect((await run('emit', 'UserRegistered', '{"userId":"u1","email":"a@b.c"}')).err).toMatch(
        /^hourglass: no workflow consumes 'UserRegistered'\. The events the workflows consume are: TrialStarted \(from billing\)/,
      );
    } finally {
      if (saved === undefined) delete process.env.HOURGLASS_DEV_STATE_FILE;
      else process.env.HOURGLASS_DEV_STATE_FILE = saved;
    }
  });
});
