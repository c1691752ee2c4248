import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ingestPatterns } from 'hourglass/infra';
import { beforeAll, describe, expect, it } from 'vitest';
import { TrialRemindersStack } from '../infra/stack';
import definitions from '../workflows';

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation templates are arbitrary JSON.
type Json = any;

/** The stack, synthesised as `cdk synth` would: every function really bundled. */
let app: App;
let stack: TrialRemindersStack;
let template: Template;
beforeAll(() => {
  app = new App();
  stack = new TrialRemindersStack(app, 'TrialReminders', {
    env: { account: '123456789012', region: 'eu-west-1' },
  });
  template = Template.fromStack(stack);
}, 240_000);

/**
 * The bundled code of the function in `of` whose logical id starts with `prefix`: the
 * asset's S3 key is its hash, and the synthesised app keeps it in `asset.<hash>`.
 */
function bundleOf(of: Template, prefix: string): string {
  const functions = Object.entries(of.findResources('AWS::Lambda::Function')) as [string, Json][];
  const found = functions.find(([id]) => id.startsWith(prefix));
  if (found === undefined)
    throw new Error(`no function ${prefix}*: ${functions.map(([id]) => id).join(', ')}`);
  const hash = String(found[1].Properties.Code.S3Key).replace(/\.zip$/, '');
  const dir = join(app.outdir, `asset.${hash}`);
  const file = readdirSync(dir).find((f) => f.endsWith('.mjs') || f.endsWith('.js'))!;
  return readFileSync(join(dir, file), 'utf8');
}

describe("the app's stack", () => {
  it('bundles ingest from this app’s workflows: its events, none of the repository’s examples', () => {
    const ingest = bundleOf(template, 'HourglassIngest');
    const has = (text: string) => ingest.includes(text);
    expect(['TrialStarted', 'OrderReturned'].map(has)).toEqual([true, true]);
    expect(['UserRegistered', 'welcome-discount'].map(has)).toEqual([false, false]);
  });

  it('routes exactly the events its workflows consume', () => {
    const patterns = Object.values(template.findResources('AWS::Events::Rule'))
      .map((rule: Json) => rule.Properties.EventPattern)
      .filter((pattern) => pattern !== undefined);
    expect(patterns).toEqual(ingestPatterns(definitions));
    expect(patterns.flatMap((p: Json) => p.source).sort()).toEqual(['billing', 'shipping']);
  });

  it('has a worker for each task type, bundled from the app’s own worker files', () => {
    expect([...stack.hourglass.workers.keys()].sort()).toEqual(
      definitions.taskTypes.map((t) => t.name).sort(),
    );
    const review = stack.hourglass.workers.get('ask-for-review')!;
    const code = bundleOf(Template.fromStack(Stack.of(review.function)), 'AskForReviewWorker');
    // Booleans, not toContain: a failure must not print a 400 KB bundle.
    expect(code.includes('template:"review"')).toBe(true);
    expect(code.includes('trial-ends-in-3-days')).toBe(false);
    expect(existsSync(app.outdir)).toBe(true);
  });
});
