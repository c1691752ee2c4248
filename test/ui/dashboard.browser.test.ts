import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardApi } from '../../cli/ui/api';
import { type Dashboard, startDashboard } from '../../cli/ui/server';
import { type LocalCloud, startLocalCloud } from '../../local/cloud';
import { getTask } from '../../shared/aws/store';
import definitions from '../../workflows';

/**
 * The dashboard in a real headless browser (Debian's chromium, which `bash .ci/run`
 * installs), on the local cloud: the overview, a search by key, a pending task with what
 * cancels it, a cancel from the page, and the change in the table. Screenshots go to a
 * temporary folder, or to docs/screenshots with HOURGLASS_SCREENSHOTS=docs (for README).
 */

const CHROMIUM = process.env.HOURGLASS_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS =
  process.env.HOURGLASS_SCREENSHOTS === 'docs'
    ? resolve(import.meta.dirname, '..', '..', 'docs', 'screenshots')
    : join(tmpdir(), 'hourglass-screenshots');
const TASK = 'welcome-discount#u1#send-discount-code#1';

let cloud: LocalCloud;
let dashboard: Dashboard;
let browser: Browser;
let page: Page;
let store: { dynamo: DynamoDBDocumentClient; tableName: string; clock: () => number };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install chromium, as bash .ci/run does) or set HOURGLASS_CHROMIUM to a Chromium binary`,
    );
  }
  mkdirSync(SHOTS, { recursive: true });
  cloud = await startLocalCloud({ definitions });
  const local = { region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' } };
  store = {
    dynamo: DynamoDBDocumentClient.from(
      new DynamoDBClient({ ...local, endpoint: cloud.endpoints.dynamodb }),
    ),
    tableName: cloud.tableName,
    clock: () => Date.now(),
  };
  dashboard = await startDashboard(
    dashboardApi(
      {
        description: `the local cloud, table ${cloud.tableName}`,
        store,
        deadLetterQueues: {
          sqs: new SQSClient({ ...local, endpoint: cloud.endpoints.sqs }),
          queues: cloud.deadLetterQueues,
        },
      },
      definitions,
      'browser test (dashboard)',
    ),
    0,
  );
  const now = Date.now();
  await cloud.emit([
    { source: 'shop', detailType: 'UserRegistered', detail: { userId: 'u1', email: 'u1@x.io' } },
    { source: 'shop', detailType: 'UserRegistered', detail: { userId: 'u2', email: 'u2@x.io' } },
    // Refused by its schema: listed on the rejected page.
    {
      source: 'shop',
      detailType: 'OrderPlaced',
      detail: { userId: 'u2', orderId: 'o', total: 'x' },
    },
  ]);
  await cloud.settle({ until: now + 2_000 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (error) => {
    throw error;
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await dashboard?.close();
  await cloud?.stop();
});

describe('the dashboard, in a browser', () => {
  it('shows the overview: pending timers charted by hour, counts per task type, DLQ depths', async () => {
    await page.goto(dashboard.url);
    await page.getByRole('heading', { name: /Pending timers, next 48 hours \(2\)/ }).waitFor();
    const row = page.locator('tr', { hasText: 'send-discount-code' });
    // Two sign-ups: two discount codes waiting, due in 30 minutes.
    expect(await row.locator('td').allTextContents()).toEqual([
      'send-discount-code',
      '2',
      '0',
      '0',
      '0',
    ]);
    expect(await page.locator('#timers-chart canvas').count()).toBe(1);
    await expect
      .poll(() => page.locator('tr', { hasText: 'task DLQ' }).textContent())
      .toContain('0');
    await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: true });
  });

  it("searches a key: the instance's state on its diagram, its pending task and what cancels it", async () => {
    await page.getByRole('link', { name: 'Search a key' }).click();
    await page.getByLabel('workflow').selectOption('welcome-discount');
    await page.getByLabel('key').fill('u1');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('#state').waitFor();
    expect(await page.locator('#state').textContent()).toBe('waiting');
    const task = page.locator(`tr[data-task="${TASK}"]`);
    expect(await task.locator('td').nth(1).textContent()).toBe('SCHEDULED');
    expect(await task.locator('td').nth(2).textContent()).toMatch(/\(in (29|30)m\)/);
    expect(await task.locator('.influences').textContent()).toBe(
      'cancels by OrderPlaced → converted',
    );
    // The workflow's diagram, drawn by Mermaid, with the current state highlighted.
    await page.locator('.diagram svg').waitFor();
    expect(await page.locator('.diagram svg .current').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'instance.png'), fullPage: true });
  });

  it('cancels the task from the page, recorded in the history, and the table shows it', async () => {
    const task = page.locator(`tr[data-task="${TASK}"]`);
    await task.getByRole('button', { name: 'Cancel' }).click();
    expect(await task.locator('.muted').last().textContent()).toContain('say why');
    await task.getByLabel('Cancel reason').fill('asked by support');
    await task.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('#no-pending').waitFor();
    await expect
      .poll(
        async () =>
          (await getTask(store, { workflow: 'welcome-discount', key: 'u1', taskId: TASK }))?.status,
      )
      .toBe('CANCELLED');
    const history = await page.locator('section', { hasText: 'History' }).textContent();
    expect(history).toContain('TaskCancelledByOperator');
  });

  it("shows the task's timeline on its page, with no action left to take", async () => {
    await page.goto(`${dashboard.url}#/task/${encodeURIComponent(TASK)}`);
    await page.locator('#task-status').waitFor();
    expect(await page.locator('#task-status').textContent()).toBe('CANCELLED');
    const timeline = await page.locator('section', { hasText: 'Timeline' }).textContent();
    expect(timeline).toContain('SCHEDULED');
    expect(timeline).toContain('CANCELLED');
    expect(await page.getByRole('button', { name: 'Cancel' }).count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'task.png'), fullPage: true });
  });

  it('lists rejected events with their reasons', async () => {
    await page.goto(`${dashboard.url}#/rejected`);
    await page.locator('td', { hasText: 'OrderPlaced' }).first().waitFor();
    expect(await page.locator('main').textContent()).toContain('total');
    await page.screenshot({ path: join(SHOTS, 'rejected.png'), fullPage: true });
  });
});
