import { userInfo } from 'node:os';
import { parseArgs as parseCommandLine } from 'node:util';
import { readDevState } from '../local/dev-state';
import { loadDefinitions } from '../local/project';
import { HourglassError, parseInstant } from '../shared/core';

/** The command line's shared parts: options, exit codes, errors, and where definitions come from. */

/** Exit codes: 0 fine, 1 `check` found errors, 2 bad input or usage. */
export const ExitCode = { ok: 0, findings: 1, badInput: 2 } as const;

/** Where the CLI writes; tests pass their own. */
export interface CliIo {
  readonly cwd: string;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** Bad input or usage: printed as one line, exit 2. */
export class UsageError extends HourglassError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A parsed command line: positionals, and each option's values by `--name`. */
export interface Args {
  readonly positional: string[];
  readonly flags: Map<string, string[]>;
}

/** The options of every command; each may repeat, and `one` refuses repeats where they make no sense. */
const OPTIONS = {
  workflows: { type: 'string', multiple: true },
  against: { type: 'string', multiple: true },
  workers: { type: 'string', multiple: true },
  persist: { type: 'boolean' },
  local: { type: 'boolean' },
  stack: { type: 'string', multiple: true },
  workflow: { type: 'string', multiple: true },
  key: { type: 'string', multiple: true },
  type: { type: 'string', multiple: true },
  status: { type: 'string', multiple: true },
  'due-before': { type: 'string', multiple: true },
  'due-after': { type: 'string', multiple: true },
  limit: { type: 'string', multiple: true },
  reason: { type: 'string', multiple: true },
  by: { type: 'string', multiple: true },
  days: { type: 'string', multiple: true },
  at: { type: 'string', multiple: true },
  after: { type: 'string', multiple: true },
  events: { type: 'string', multiple: true },
  until: { type: 'string', multiple: true },
  fail: { type: 'string', multiple: true },
  down: { type: 'string', multiple: true },
  source: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  force: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  port: { type: 'string', multiple: true },
  help: { type: 'boolean' },
} as const;

/** Who acts, as recorded in a task's history: `$USER`, else the login name. */
export function operatorName(): string {
  return process.env.USER || userInfo().username;
}

/** Reads the command line with Node's own `util.parseArgs` (strict: unknown options are errors). */
export function parseArgs(argv: readonly string[]): Args {
  let parsed: ReturnType<
    typeof parseCommandLine<{ options: typeof OPTIONS; allowPositionals: true }>
  >;
  try {
    parsed = parseCommandLine({
      args: [...argv],
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    const { code, message } = error as { code?: string; message: string };
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const name = /'(-[^']*)'/.exec(message)?.[1] ?? message;
      throw new UsageError(`unknown option ${name.split('=')[0]}; see hourglass --help`);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const name = /'(--[\w-]+)/.exec(message)?.[1] ?? 'an option';
      throw new UsageError(`${name} needs a value`);
    }
    throw new UsageError(message);
  }
  const flags = new Map<string, string[]>();
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value === undefined) continue;
    flags.set(`--${name}`, typeof value === 'boolean' ? ['true'] : [...(value as string[])]);
  }
  return { positional: parsed.positionals, flags };
}

export function one(args: Args, name: string): string | undefined {
  const values = args.flags.get(name);
  if (values !== undefined && values.length > 1) throw new UsageError(`${name} may be given once`);
  return values?.[0];
}

export function parseTime(value: string, what: string): number {
  try {
    return parseInstant(value, what);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * The definitions `--workflows` names; else those the running dev cloud runs (so `emit` and
 * `inspect` see what it sees); else the project's.
 */
export async function runningDefinitions(args: Args, io: CliIo) {
  const given = one(args, '--workflows');
  const running = given === undefined ? await readDevState().catch(() => undefined) : undefined;
  return loadDefinitions(given ?? running?.workflows, io.cwd);
}
