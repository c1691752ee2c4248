import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { NamedQueue } from '../shared/aws/overview';
import type { RedriveRoutes } from '../shared/aws/redrive';
import { HourglassError } from '../shared/core/errors';

/**
 * Where `npm run dev` tells other commands (`hourglass emit`, the operator commands) how to
 * reach its local cloud. Override with HOURGLASS_DEV_STATE_FILE (tests do, so a running dev
 * cloud never interferes).
 */
export function devStateFile(): string {
  return (
    process.env.HOURGLASS_DEV_STATE_FILE ??
    resolve(import.meta.dirname, '..', '.hourglass', 'dev.json')
  );
}

/** The contents of the dev state file ({@link devStateFile}). */
export interface DevState {
  readonly eventbridge: string;
  readonly busName: string;
  readonly dynamodb: string;
  readonly tableName: string;
  /** The workflows module the cloud runs: `hourglass emit` checks events against it. */
  readonly workflows: string;
  /** The SQS endpoint, and the dead-letter queues the dashboard shows the depth of. */
  readonly sqs: string;
  readonly deadLetterQueues: readonly NamedQueue[];
  /** The queues `hourglass redrive --local` moves messages between. */
  readonly redrive: RedriveRoutes;
  readonly pid: number;
}

/** No local cloud is running (or it stopped without removing its state file). */
export class NoDevCloudError extends HourglassError {
  constructor() {
    super('no local cloud is running: start it with "npm run dev" in another terminal');
    this.name = 'NoDevCloudError';
  }
}

/** The running dev cloud's state; throws {@link NoDevCloudError} when none is running. */
export async function readDevState(): Promise<DevState> {
  let state: DevState;
  try {
    state = JSON.parse(await readFile(devStateFile(), 'utf8'));
  } catch {
    throw new NoDevCloudError();
  }
  if (!isAlive(state.pid)) throw new NoDevCloudError();
  return state;
}

/** True when a process of that id exists (signal 0 only checks). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
