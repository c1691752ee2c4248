import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

describe('npm run synth', () => {
  it('synthesizes the Hourglass stack offline with the pinned CDK CLI', async () => {
    const out = await mkdtemp(join(tmpdir(), 'hourglass-cdk-'));
    const env = {
      ...process.env,
      CDK_DISABLE_CLI_TELEMETRY: '1',
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: '',
    };
    await promisify(execFile)(
      join(root, 'node_modules/.bin/cdk'),
      ['synth', '--no-notices', '--quiet', '--output', out],
      { cwd: root, env, timeout: 120_000 },
    );
    // The main stack, and the nested stack that holds the workers.
    const files = (await readdir(out)).filter((f) => f.endsWith('.template.json'));
    expect(files.filter((f) => f.endsWith('.nested.template.json'))).toHaveLength(1);
    const types: string[] = [];
    for (const file of files) {
      const template = JSON.parse(await readFile(join(out, file), 'utf8'));
      types.push(
        ...Object.values(template.Resources as Record<string, { Type: string }>).map((r) => r.Type),
      );
    }
    // Ingest, the relay, the sweeper, and one worker per task type of J1–J6 (8); the timers
    // that need no worker have none.
    expect(types.filter((t) => t === 'AWS::Lambda::Function')).toHaveLength(11);
    expect(types).toContain('AWS::Scheduler::ScheduleGroup');
    expect(types).toContain('AWS::CloudFormation::Stack');
  }, 120_000);
});
