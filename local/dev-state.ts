import { resolve } from 'node:path';

/** Where `npm run dev` tells `hourglass emit` how to reach its bus. */
export const DEV_STATE_FILE = resolve(import.meta.dirname, '..', '.hourglass', 'dev.json');
