import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
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
    const template = JSON.parse(await readFile(join(out, 'Hourglass.template.json'), 'utf8'));
    const types = Object.values(template.Resources as Record<string, { Type: string }>).map(
      (r) => r.Type,
    );
    expect(types.filter((t) => t === 'AWS::Lambda::Function')).toHaveLength(10);
    expect(types).toContain('AWS::Scheduler::ScheduleGroup');
  }, 120_000);
});
