import { resolve } from 'node:path';

/**
 * Where `npm run dev` tells `hourglass emit` how to reach its bus. Override with
 * HOURGLASS_DEV_STATE_FILE (tests do, so a running dev cloud never interferes).
 */
export function devStateFile(): string {
  return (
    process.env.HOURGLASS_DEV_STATE_FILE ??
    resolve(import.meta.dirname, '..', '.hourglass', 'dev.json')
  );
}
