import { DefinitionError, describeValue, HourglassError } from './errors';

/** Validation shared by the define* functions: names, and where a bad value was found. */

/** A JSON value: what task inputs and workflow context must be, so they can be stored. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const NAME = /^[a-z][a-z0-9-]{0,39}$/;
const NAME_HELP = 'lower-case letters, digits and "-", starting with a letter, at most 40 long';

/** Throws unless `value` is a valid kebab-case name. */
export function assertName(value: unknown, where: string): asserts value is string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new DefinitionError(where, `name must be ${NAME_HELP}, got ${describeValue(value)}`);
  }
}

/** Runs a parser and turns its error into a DefinitionError that says where it happened. */
export function within<T>(where: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof DefinitionError) throw error;
    if (error instanceof HourglassError) throw new DefinitionError(where, error.message);
    throw error;
  }
}
