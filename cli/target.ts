import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NoDevCloudError, readDevState } from '../local/dev-state';
import type { DeadLetterQueues } from '../shared/aws/overview';
import type { RedriveQueues } from '../shared/aws/redrive';
import { OUTPUT_KEYS } from '../shared/aws/settings';
import type { StoreDeps } from '../shared/aws/store';
import { HourglassError } from '../shared/core/errors';

/** Where the operator commands point: the running dev cloud, or a deployed stack. */
export interface Target {
  /** Said before any output, so nobody mistakes one for the other. */
  readonly description: string;
  readonly store: StoreDeps;
  /** The dead-letter queues whose depth the dashboard shows, when they are known. */
  readonly deadLetterQueues: DeadLetterQueues | null;
  /** The queues `hourglass redrive` moves between, when they are known. */
  readonly redrive: RedriveQueues | null;
}

/** How the command line said where to point. */
export interface TargetChoice {
  readonly local: boolean;
  readonly stack?: string;
}

/** No target could be reached; the message says what is missing and how to fix it. */
export class TargetError extends HourglassError {
  constructor(message: string) {
    super(message);
    this.name = 'TargetError';
  }
}

/**
 * Resolves `--local` or `--stack NAME`. With neither, the running `npm run dev` cloud if
 * there is one (the description says so), else an error naming both ways.
 */
export async function resolveTarget(choice: TargetChoice): Promise<Target> {
  if (choice.local && choice.stack !== undefined) {
    throw new TargetError('give --local or --stack NAME, not both');
  }
  if (choice.stack !== undefined) return stackTarget(choice.stack);
  try {
    const state = await readDevState();
    const local = {
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
    const dynamo = DynamoDBDocumentClient.from(
      new DynamoDBClient({ ...local, endpoint: state.dynamodb }),
    );
    // A state file from before the dashboard names no SQS endpoint.
    const sqs = state.sqs === undefined ? null : new SQSClient({ ...local, endpoint: state.sqs });
    const how = choice.local ? '' : '; no --stack given: pass --stack NAME for a deployed stack';
    return {
      description: `the local cloud of npm run dev, table ${state.tableName}${how}`,
      store: { dynamo, tableName: state.tableName, clock: () => Date.now() },
      deadLetterQueues: sqs === null ? null : { sqs, queues: state.deadLetterQueues ?? [] },
      redrive: sqs === null || state.redrive === undefined ? null : { sqs, ...state.redrive },
    };
  } catch (error) {
    if (!(error instanceof NoDevCloudError)) throw error;
    throw new TargetError(
      choice.local
        ? error.message
        : 'nothing to point at: pass --stack NAME for a deployed stack (with AWS_PROFILE and AWS_REGION set as for the AWS CLI), or start the local cloud with "npm run dev" and pass --local',
    );
  }
}

/** The bus of a deployed stack, found by its HourglassBusName output, for `hourglass emit --stack`. */
export async function stackBus(name: string) {
  const busName = (await stackOutputs(name)).get(OUTPUT_KEYS.busName);
  if (busName === undefined) {
    throw new TargetError(
      `stack '${name}' has no HourglassBusName output: is it a stack with the Hourglass construct, deployed with this version? (cdk deploy it again)`,
    );
  }
  return {
    busName,
    description: `stack ${name}'s bus ${busName}`,
    client: {},
    unreachable: `cannot put events on bus ${busName} of stack '${name}': check AWS_PROFILE, AWS_REGION and events:PutEvents permission`,
  };
}

async function stackTarget(name: string): Promise<Target> {
  const outputs = await stackOutputs(name);
  const tableName = outputs.get(OUTPUT_KEYS.tableName);
  if (tableName === undefined) {
    throw new TargetError(
      `stack '${name}' has no HourglassTableName output: is it a stack with the Hourglass construct, deployed with this version? (cdk deploy it again)`,
    );
  }
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  const queues = [
    { name: 'ingest DLQ', url: outputs.get(OUTPUT_KEYS.ingestDlqUrl) },
    { name: 'task DLQ', url: outputs.get(OUTPUT_KEYS.taskDlqUrl) },
  ].filter((q): q is { name: string; url: string } => q.url !== undefined);
  const sqs = new SQSClient({});
  const [ingestDlq, ingestQueue, taskDlq, taskPrefix] = [
    OUTPUT_KEYS.ingestDlqUrl,
    OUTPUT_KEYS.ingestQueueUrl,
    OUTPUT_KEYS.taskDlqUrl,
    OUTPUT_KEYS.taskQueueUrlPrefix,
  ].map((k) => outputs.get(k));
  return {
    description: `stack ${name}, table ${tableName}`,
    store: { dynamo, tableName, clock: () => Date.now() },
    deadLetterQueues: { sqs, queues },
    redrive:
      ingestDlq && ingestQueue && taskDlq && taskPrefix
        ? {
            sqs,
            ingest: { dlqUrl: ingestDlq, queueUrl: ingestQueue },
            tasks: { dlqUrl: taskDlq, queueUrlPrefix: taskPrefix },
          }
        : null,
  };
}

/** The outputs of a deployed stack, by their key. */
async function stackOutputs(name: string): Promise<Map<string, string>> {
  const { CloudFormationClient, DescribeStacksCommand } = await import(
    '@aws-sdk/client-cloudformation'
  );
  let result: { Stacks?: { Outputs?: { OutputKey?: string; OutputValue?: string }[] }[] };
  try {
    result = await new CloudFormationClient({}).send(
      new DescribeStacksCommand({ StackName: name }),
    );
  } catch (error) {
    const { name: kind, message } = error as Error;
    if (/region is missing/i.test(message)) {
      throw new TargetError(
        `no AWS region to find stack '${name}' in: set AWS_REGION (or a region in your AWS_PROFILE)`,
      );
    }
    if (kind === 'CredentialsProviderError' || /credential/i.test(message)) {
      throw new TargetError(
        `no AWS credentials to read stack '${name}': set AWS_PROFILE (or run aws sso login) and AWS_REGION`,
      );
    }
    if (/does not exist/.test(message)) {
      throw new TargetError(
        `no stack '${name}' in ${process.env.AWS_REGION ?? 'the default region'}: check the name (cdk list) and AWS_REGION`,
      );
    }
    throw new TargetError(`cannot read stack '${name}': ${message}`);
  }
  const outputs =
    (result as { Stacks?: { Outputs?: { OutputKey?: string; OutputValue?: string }[] }[] })
      .Stacks?.[0]?.Outputs ?? [];
  return new Map(
    outputs
      .filter((o) => o.OutputKey !== undefined && o.OutputValue !== undefined)
      .map((o) => [o.OutputKey!, o.OutputValue!]),
  );
}
