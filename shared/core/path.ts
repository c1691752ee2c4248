import { HourglassError } from './errors';

const PATH = /^[A-Za-z_$][\w$-]*(\.[A-Za-z_$][\w$-]*)*$/;

/**
 * Checks that a path such as `detail.userId` is well formed. Paths keep definitions
 * serialisable: CDK, diagrams and docs can read them without running user code.
 *
 * @throws HourglassError naming the field when the path is malformed
 */
export function assertPath(path: unknown, field: string): asserts path is string {
  if (typeof path !== 'string' || !PATH.test(path)) {
    throw new HourglassError(
      `${field} must be a dotted path into the event such as "detail.userId", got ${JSON.stringify(path)}`,
    );
  }
}

/**
 * Reads the value at a dotted path (`detail.userId`) of an object; `undefined` when any
 * step is missing.
 *
 * @example readPath({ detail: { userId: 'u1' } }, 'detail.userId') // 'u1'
 */
export function readPath(value: unknown, path: string): unknown {
  let current = value;
  for (const step of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[step];
  }
  return current;
}
