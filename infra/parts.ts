import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../shared/aws/table';
import type { HourglassDefinitions } from '../shared/core/definitions';
import { ingestPatterns } from '../shared/core/patterns';

/** Parts of the Hourglass construct with logic of their own, each built by one function. */

const ROOT = resolve(import.meta.dirname, '..');

/** An SQS queue encrypted at rest with SQS-managed keys, reachable over TLS only. */
export function encryptedQueue(scope: Construct, id: string, props: sqs.QueueProps = {}) {
  return new sqs.Queue(scope, id, {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    ...props,
  });
}

/** The table: keys, indexes and stream from TABLE_SCHEMA, on-demand, PITR, TTL, encrypted. */
export function hourglassTable(scope: Construct, removalPolicy: RemovalPolicy): dynamodb.Table {
  const table = new dynamodb.Table(scope, 'Table', {
    partitionKey: { name: TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
    sortKey: { name: TABLE_SCHEMA.sortKey, type: dynamodb.AttributeType.STRING },
    billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
    stream: dynamodb.StreamViewType[TABLE_SCHEMA.stream],
    timeToLiveAttribute: TABLE_SCHEMA.timeToLive,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    encryption: dynamodb.TableEncryption.AWS_MANAGED,
    removalPolicy,
  });
  for (const index of TABLE_SCHEMA.indexes) {
    table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
      ...(index.projection.type === 'INCLUDE'
        ? {
            projectionType: dynamodb.ProjectionType.INCLUDE,
            nonKeyAttributes: [...index.projection.attributes],
          }
        : { projectionType: dynamodb.ProjectionType.KEYS_ONLY }),
    });
  }
  return table;
}

/** The bus rules that feed ingest, one per pattern of `ingestPatterns`. */
export function ingestRules(
  scope: Construct,
  definitions: HourglassDefinitions,
  bus: events.IEventBus,
  queue: sqs.IQueue,
  dlq: sqs.IQueue,
): events.Rule[] {
  return ingestPatterns(definitions).map((pattern, i) => {
    const rule = new events.Rule(scope, `IngestRule${i}`, {
      eventBus: bus,
      description:
        `Hourglass ingest: ${pattern.source[0]} ${pattern['detail-type'].join(', ')}`.slice(0, 512),
      eventPattern: {
        source: pattern.source,
        detailType: pattern['detail-type'],
        ...(pattern.detail ? { detail: pattern.detail } : {}),
      },
    });
    rule.addTarget(
      new targets.SqsQueue(queue, {
        deadLetterQueue: dlq,
        retryAttempts: 185,
      }),
    );
    return rule;
  });
}

/**
 * The role EventBridge Scheduler assumes to send timers. Confused-deputy guard: only
 * schedules of this account's own schedule group may assume it.
 */
export function schedulerRole(scope: Construct, group: scheduler.CfnScheduleGroup): iam.Role {
  const stack = Stack.of(scope);
  // Confused-deputy guard: only schedules of this account's own group may assume the role.
  return new iam.Role(scope, 'SchedulerRole', {
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnEquals: {
          'aws:SourceArn': stack.formatArn({
            service: 'scheduler',
            resource: 'schedule-group',
            resourceName: group.ref,
          }),
        },
      },
    }),
    description: 'EventBridge Scheduler sends due Hourglass timers to the task queues',
  });
}

/**
 * Writes the ingest function's entry for the module the definitions were made in: two
 * lines that load that module's definitions and hand them to `ingestHandler`. Returns its
 * path. Fails synthesis, saying how to fix it, when the module is not known.
 */
export function ingestEntryFor(id: string, definitions: HourglassDefinitions): string {
  const module = definitions.module;
  if (module === null) {
    throw new Error(
      `Hourglass '${id}': cannot tell which module defines the workflows, so ingest cannot be bundled from it; pass module: import.meta.url to defineHourglass({ … }) in that module`,
    );
  }
  const modulePath = module.startsWith('file:') ? fileURLToPath(module) : module;
  if (!existsSync(modulePath)) {
    throw new Error(
      `Hourglass '${id}': the workflows module ${modulePath} does not exist; pass module: import.meta.url to defineHourglass({ … })`,
    );
  }
  const runtime = join(ROOT, 'shared/aws/runtime.ts');
  const source = [
    '// Generated by the Hourglass construct: the ingest function of the definitions below.',
    `import * as workflows from ${JSON.stringify(modulePath)};`,
    `import { ingestHandler } from ${JSON.stringify(runtime)};`,
    '',
    '// A copy, so the bundler does not warn about whichever of the two exports is absent.',
    'const exported: { default?: unknown; definitions?: unknown } = { ...workflows };',
    'const definitions = exported.default ?? exported.definitions;',
    'if ((definitions as { kind?: unknown } | undefined)?.kind !== "hourglass") {',
    `  throw new Error(${JSON.stringify(`${modulePath} must export its defineHourglass(…) result as default or as "definitions"`)});`,
    '}',
    'export const handler = ingestHandler(definitions as Parameters<typeof ingestHandler>[0]);',
    '',
  ].join('\n');
  const dir = join(ROOT, '.hourglass', 'entries');
  mkdirSync(dir, { recursive: true });
  const file = join(
    dir,
    `ingest-${createHash('sha256').update(source).digest('hex').slice(0, 12)}.ts`,
  );
  writeFileSync(file, source);
  return file;
}
