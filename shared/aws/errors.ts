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
 * Marks errors a worker recognises by a registered symbol rather than `instanceof`, so a
 * handler bundled with a second copy of Hourglass (two versions of the package, or a worker
 * bundled apart from the middleware) is still understood: `Symbol.for` returns the same
 * symbol in every copy.
 */
const NON_RETRYABLE = Symbol.for('hourglass.error.non-retryable');
const RETRY_AFTER_MS = Symbol.for('hourglass.error.retry-after-ms');

/**
 * Thrown by a worker handler: the task FAILS now, without further attempts.
 *
 * @example throw new NonRetryableError('the user has no email address');
 */
export class NonRetryableError extends HourglassError {
  readonly [NON_RETRYABLE] = true;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }

  /** True for a NonRetryableError from any copy of Hourglass. */
  static is(error: unknown): boolean {
    return (error as { [NON_RETRYABLE]?: unknown } | null)?.[NON_RETRYABLE] === true;
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
  readonly [RETRY_AFTER_MS]: number;

  constructor(message: string, delayMs: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryAfterError';
    this.delayMs = delayMs;
    this[RETRY_AFTER_MS] = delayMs;
  }

  /** The delay a RetryAfterError from any copy of Hourglass asks for, or null for other errors. */
  static delayOf(error: unknown): number | null {
    const delay = (error as { [RETRY_AFTER_MS]?: unknown } | null)?.[RETRY_AFTER_MS];
    return typeof delay === 'number' && Number.isFinite(delay) && delay >= 0 ? delay : null;
  }
}

/** An attempt ran past its task type's timeout and was aborted. */
export class TaskTimeoutError extends HourglassError {
  constructor(taskId: string, timeoutMs: number) {
    super(`task '${taskId}' ran past its timeout of ${timeoutMs} ms and was aborted`);
    this.name = 'TaskTimeoutError';
  }
}
