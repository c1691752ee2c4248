import { HourglassError } from '../core/errors';

/** A configuration variable is missing or malformed. Raised at cold start. */
export class ConfigError extends HourglassError {
  /** The environment variable at fault. */
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** Concurrent writers kept winning the race for one instance: retried later as a batch item failure. */
export class ConflictError extends HourglassError {
  constructor(workflow: string, key: string, attempts: number) {
    super(
      `workflow '${workflow}' key '${key}': the instance changed under ${attempts} decisions in a row; the batch item is returned to the queue and retried`,
    );
    this.name = 'ConflictError';
  }
}

/**
 * Thrown by a worker handler: the task FAILS now, without further attempts.
 *
 * @example throw new NonRetryableError('the user has no email address');
 */
export class NonRetryableError extends HourglassError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

/**
 * Thrown by a worker handler: retry, but after this delay instead of the backoff (for
 * example the Retry-After of a rate-limited API). Still bounded by `maxAttempts`.
 *
 * @example throw new RetryAfterError('rate limited', 30_000);
 */
export class RetryAfterError extends HourglassError {
  /** How long to wait before the next attempt, in ms. */
  readonly delayMs: number;

  constructor(message: string, delayMs: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryAfterError';
    this.delayMs = delayMs;
  }
}

/** An attempt ran past its task type's timeout and was aborted. */
export class TaskTimeoutError extends HourglassError {
  constructor(taskId: string, timeoutMs: number) {
    super(`task '${taskId}' ran past its timeout of ${timeoutMs} ms and was aborted`);
    this.name = 'TaskTimeoutError';
  }
}
