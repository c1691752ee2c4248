/**
 * Errors raised by the Hourglass core. Every message says what is wrong, with the field and
 * the bad value, and what to do about it.
 */

/** Base class of every error the core raises. */
export class HourglassError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HourglassError';
  }
}

/**
 * A definition (task type, event, workflow, rule, catalogue) is invalid. Raised when the
 * definition is built, so a bad definition never reaches the runtime.
 */
export class DefinitionError extends HourglassError {
  /** Where in the definitions the problem is, e.g. `workflow 'welcome-discount' state 'new'`. */
  readonly where: string;

  constructor(where: string, problem: string, options?: { cause?: unknown }) {
    super(`${where}: ${problem}`, options);
    this.name = 'DefinitionError';
    this.where = where;
  }
}

/** A value that should be a duration or a point in time is not one. */
export class TimeFormatError extends HourglassError {
  /** The field that held the value, e.g. `detail.publishAt` or `retry.initial`. */
  readonly field: string;
  /** The value as it was given. */
  readonly value: unknown;

  constructor(field: string, value: unknown, expected: string) {
    super(`${field} must be ${expected}, got ${describeValue(value)}`);
    this.name = 'TimeFormatError';
    this.field = field;
    this.value = value;
  }
}

/** Renders a value for an error message: `"abc" (string)`, `0 (number)`, `undefined`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') return `${JSON.stringify(value)} (string)`;
  if (typeof value === 'number' || typeof value === 'boolean') return `${value} (${typeof value})`;
  if (Array.isArray(value)) return 'an array';
  return `a value of type ${typeof value}`;
}
