import { isTimerType } from '../core/timers';
import { ConfigError } from './errors';
import { DEFAULT_RETENTION_DAYS } from './table';

/** Every environment variable Hourglass reads, in one place. */
export const ENV = {
  tableName: 'HOURGLASS_TABLE_NAME',
  busName: 'HOURGLASS_BUS_NAME',
  taskQueueUrlPrefix: 'HOURGLASS_TASK_QUEUE_URL_PREFIX',
  taskQueueArnPrefix: 'HOURGLASS_TASK_QUEUE_ARN_PREFIX',
  ingestQueueUrl: 'HOURGLASS_INGEST_QUEUE_URL',
  ingestQueueArn: 'HOURGLASS_INGEST_QUEUE_ARN',
  scheduleGroup: 'HOURGLASS_SCHEDULE_GROUP',
  schedulerRoleArn: 'HOURGLASS_SCHEDULER_ROLE_ARN',
  schedulerDlqArn: 'HOURGLASS_SCHEDULER_DLQ_ARN',
  scheduleLeadSeconds: 'HOURGLASS_SCHEDULE_LEAD_SECONDS',
  outboxBusName: 'HOURGLASS_OUTBOX_BUS_NAME',
  timeScale: 'HOURGLASS_TIME_SCALE',
  retentionDays: 'HOURGLASS_RETENTION_DAYS',
  lifecycleEvents: 'HOURGLASS_LIFECYCLE_EVENTS',
} as const;

/** Where the timer for one task type's tasks is delivered. */
export interface TaskQueue {
  readonly url: string;
  readonly arn: string;
}

/** SQS's limit on a queue name. */
export const MAX_QUEUE_NAME_LENGTH = 80;

/**
 * The naming rule of task queues: `<prefix><task type>`. Every function finds any task
 * type's queue from the two prefixes (URL and ARN) alone, so its environment stays the same
 * small size however many task types a deployment has (Lambda allows 4 KB of environment
 * variables in total).
 */
export function taskQueueName(prefix: string, taskType: string): string {
  return `${prefix}${taskType}`;
}

/**
 * How early a one-shot schedule fires before the due time. EventBridge Scheduler fires
 * within a minute of its time; firing two minutes early and re-delaying in SQS gives
 * second precision.
 */
export const DEFAULT_SCHEDULE_LEAD_SECONDS = 120;
/**
 * The shortest schedule lead that keeps every timer on time. EventBridge Scheduler "invokes
 * its targets with 60 second precision ... between 1:00:00 and 1:00:59" (User Guide,
 * "Schedule types"), and an `at()` time is cut to the second, so a schedule set less than
 * 60 s before the due time may fire after it.
 */
export const MIN_SCHEDULE_LEAD_SECONDS = 60;
/**
 * The longest lead: below one SQS delay (900 s), so the early message always comes back
 * with a single re-send. (Schedules are used only for timers more than 30 minutes away.)
 */
export const MAX_SCHEDULE_LEAD_SECONDS = 840;
/** Why a lead must lie in its range, for error messages. */
export const SCHEDULE_LEAD_RULE = `a whole number of seconds from ${MIN_SCHEDULE_LEAD_SECONDS} to ${MAX_SCHEDULE_LEAD_SECONDS} (Scheduler fires anywhere in a schedule's minute, so a shorter lead could fire after the due time)`;

/** The settings the runtime reads, each parsed once on first use. */
export interface Config {
  readonly tableName: string;
  readonly busName: string;
  readonly scheduleGroup: string;
  readonly schedulerRoleArn: string;
  readonly schedulerDlqArn: string;
  /** @default 120 */
  readonly scheduleLeadSeconds: number;
  readonly outboxBusName: string;
  /**
   * How many times faster than real time the clock runs: 1 on AWS; the local cloud
   * compresses time and sets it, so timers (a task's timeout) shrink with the clock. @default 1
   */
  readonly timeScale: number;
  /**
   * Days finished tasks, finished instances and rejected events are kept before DynamoDB's
   * TTL may delete them. @default 30
   */
  readonly retentionDays: number;
  /** Whose lifecycle events reach the bus: those a workflow consumes, or all. @default 'consumed' */
  readonly lifecycleEvents: 'consumed' | 'all';
  /**
   * The ingest queue: where the timers that need no worker are delivered, for ingest to
   * fire them in their instance's decision.
   */
  readonly ingestQueue: TaskQueue;
  /**
   * The queue of one task type, by the naming rule ({@link taskQueueName}); for the timer
   * type ({@link TIMER_TASK_TYPE}), the ingest queue.
   */
  taskQueue(taskType: string): TaskQueue;
}

const ARN = /^arn:aws[\w-]*:[\w-]+:[\w-]*:\d{12}:.+$/;

/** Reads one variable: required, or a checked number with a default. Errors name the variable. */
function variableReader(env: Readonly<Record<string, string | undefined>>) {
  const required = (variable: string, hint: string): string => {
    const value = env[variable]?.trim();
    if (!value) {
      throw new ConfigError(
        variable,
        `is not set: ${hint}. The Hourglass CDK construct sets it; when running by hand, export it.`,
      );
    }
    return value;
  };
  return {
    required,
    arn(variable: string, hint: string): string {
      const value = required(variable, hint);
      if (!ARN.test(value))
        throw new ConfigError(variable, `must be an ARN (arn:aws:…), got "${value}"`);
      return value;
    },
    /** A number with a default; `valid` checks it and `rule` says what it must be. */
    number(
      variable: string,
      fallback: number,
      valid: (n: number) => boolean,
      rule: string,
    ): number {
      const text = env[variable]?.trim();
      if (!text) return fallback;
      const value = Number(text);
      if (!valid(value)) throw new ConfigError(variable, `must be ${rule}, got "${text}"`);
      return value;
    },
  };
}

/**
 * Reads configuration from the environment. Each getter parses its variable on first use
 * and caches it, so a function reads only what it needs, once per cold start; a missing or
 * bad variable throws a ConfigError that names it and says how to set it.
 *
 * @example
 * const config = loadConfig(); // at module scope, i.e. at cold start
 * await store.load(config.tableName, …);
 *
 * Long because it is flat: one getter per environment variable, each checked where it is read.
 */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): Config {
  const cache = new Map<string, unknown>();
  const once = <T>(name: string, read: () => T): T => {
    if (!cache.has(name)) cache.set(name, read());
    return cache.get(name) as T;
  };
  const read = variableReader(env);
  const required = (variable: string, hint: string) =>
    once(variable, () => read.required(variable, hint));
  const arn = (variable: string, hint: string) => once(variable, () => read.arn(variable, hint));
  const isWhole = (min: number, max: number) => (n: number) =>
    Number.isInteger(n) && n >= min && n <= max;
  return {
    get tableName() {
      return required(ENV.tableName, 'set it to the name of the Hourglass DynamoDB table');
    },
    get busName() {
      return required(ENV.busName, 'set it to the EventBridge bus that receives lifecycle events');
    },
    get scheduleGroup() {
      return required(ENV.scheduleGroup, 'set it to the EventBridge Scheduler schedule group');
    },
    get schedulerRoleArn() {
      return arn(
        ENV.schedulerRoleArn,
        'set it to the ARN of the role EventBridge Scheduler assumes to send to the task queues',
      );
    },
    get schedulerDlqArn() {
      return arn(
        ENV.schedulerDlqArn,
        'set it to the ARN of the SQS queue that keeps schedules that could not be delivered',
      );
    },
    get scheduleLeadSeconds() {
      return once(ENV.scheduleLeadSeconds, () =>
        read.number(
          ENV.scheduleLeadSeconds,
          DEFAULT_SCHEDULE_LEAD_SECONDS,
          isWhole(MIN_SCHEDULE_LEAD_SECONDS, MAX_SCHEDULE_LEAD_SECONDS),
          SCHEDULE_LEAD_RULE,
        ),
      );
    },
    get outboxBusName() {
      return required(ENV.outboxBusName, 'set it to the EventBridge bus the outbox publishes to');
    },
    get timeScale() {
      return once(ENV.timeScale, () =>
        read.number(
          ENV.timeScale,
          1,
          (n) => n >= 1 && Number.isFinite(n),
          'a number ≥ 1 (how much faster than real time the local clock runs)',
        ),
      );
    },
    get lifecycleEvents() {
      return once(ENV.lifecycleEvents, () => {
        const value = env[ENV.lifecycleEvents]?.trim() || 'consumed';
        if (value !== 'consumed' && value !== 'all')
          throw new ConfigError(ENV.lifecycleEvents, `must be "consumed" or "all", got "${value}"`);
        return value;
      });
    },
    get retentionDays() {
      return once(ENV.retentionDays, () =>
        read.number(
          ENV.retentionDays,
          DEFAULT_RETENTION_DAYS,
          isWhole(1, 3650),
          'a whole number of days from 1 to 3650',
        ),
      );
    },
    get ingestQueue(): TaskQueue {
      return {
        url: required(
          ENV.ingestQueueUrl,
          'set it to the URL of the ingest queue, where timers that need no worker are delivered',
        ),
        arn: arn(ENV.ingestQueueArn, 'set it to the ARN of the ingest queue'),
      };
    },
    taskQueue(taskType: string): TaskQueue {
      if (isTimerType(taskType)) return this.ingestQueue;
      const urlPrefix = required(
        ENV.taskQueueUrlPrefix,
        "set it to the task queues' URL up to the task type, e.g. https://sqs.eu-west-1.amazonaws.com/123456789012/MyStack-Hourglass-",
      );
      const arnPrefix = required(
        ENV.taskQueueArnPrefix,
        "set it to the task queues' ARN up to the task type, e.g. arn:aws:sqs:eu-west-1:123456789012:MyStack-Hourglass-",
      );
      return { url: taskQueueName(urlPrefix, taskType), arn: taskQueueName(arnPrefix, taskType) };
    },
  };
}
