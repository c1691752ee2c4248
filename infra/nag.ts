import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import type { Hourglass } from './hourglass';
import type { Outbox } from './outbox';

const RUNTIME_REASON =
  'Hourglass targets nodejs22.x on purpose: it is the runtime its tooling, bundling and tests are pinned to; moving to a newer runtime is a deliberate, tested upgrade.';

/**
 * The cdk-nag findings Hourglass accepts, each with its reason. Applied to the Hourglass
 * and Outbox constructs only, and where possible only to the exact permission (appliesTo).
 */
export function suppressAcceptedFindings(constructs: readonly (Hourglass | Outbox)[]): void {
  for (const construct of constructs) {
    NagSuppressions.addResourceSuppressions(
      construct as Construct,
      [
        {
          id: 'AwsSolutions-IAM4',
          reason:
            "AWSLambdaBasicExecutionRole grants only CreateLogGroup/CreateLogStream/PutLogEvents for the function's own logs: the standard minimal Lambda logging grant.",
          appliesTo: [
            'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
          ],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions, so they need '*'; the infra tests assert that no other action has a '*' resource.",
          appliesTo: ['Resource::*'],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "Access to the table's own global secondary indexes (tasks by status, instances by workflow); the wildcard covers only this table's index ARNs.",
          appliesTo: [{ regex: '/^Resource::<.*Table.*\\.Arn>\\/index\\/\\*$/g' }],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Stream ARNs end in a creation timestamp unknown before deployment; the wildcard covers only the streams of this one table.',
          appliesTo: [{ regex: '/^Resource::<.*\\.Arn>\\/stream\\/\\*$/g' }],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "Schedules are created at run time, one per task and generation (hashed names); the wildcard covers only this stack's own schedule group.",
          appliesTo: [
            {
              regex:
                '/^Resource::arn:<AWS::Partition>:scheduler:.*:schedule\\/<.*ScheduleGroup.*>\\/\\*$/g',
            },
          ],
        },
        {
          id: 'AwsSolutions-IAM5',
          reason:
            "Task queues are named by a rule (<stack>-<id>-<task type>), so the relay, the sweeper and Scheduler can reach any of them without an environment that grows with every task type (Lambda allows 4 KB); the wildcard covers only this deployment's own task queues.",
          appliesTo: [{ regex: '/^Resource::arn:<AWS::Partition>:sqs:.*-\\*$/g' }],
        },
        { id: 'AwsSolutions-L1', reason: RUNTIME_REASON },
        { id: 'Serverless-LambdaLatestVersion', reason: RUNTIME_REASON },
        {
          id: 'Serverless-LambdaDLQ',
          reason:
            "These functions are only invoked synchronously by event source mappings, never asynchronously; failures go to the source queues' DLQs and the stream mapping's on-failure queue.",
        },
        {
          id: 'Serverless-LambdaEventSourceMappingDestination',
          reason:
            "SQS event source mappings do not support on-failure destinations; a message that keeps failing moves to its queue's redrive DLQ after 5 receives.",
        },
      ],
      true,
    );
  }
}

/** Marks queues that are themselves dead-letter queues, which need no DLQ of their own. */
export function suppressDeadLetterQueueFindings(
  queues: readonly Construct[],
  purpose: string,
): void {
  for (const queue of queues) {
    NagSuppressions.addResourceSuppressions(queue, [
      { id: 'AwsSolutions-SQS3', reason: `This queue is itself a dead-letter queue (${purpose}).` },
      {
        id: 'Serverless-SQSRedrivePolicy',
        reason: `This queue is itself a dead-letter queue (${purpose}); a DLQ of a DLQ would only move the problem.`,
      },
    ]);
  }
}
