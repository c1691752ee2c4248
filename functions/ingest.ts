import { ingestHandler } from '../shared/aws';
import definitions from '../workflows';

/**
 * The ingest function of the example workflows. A deployment of your own workflows does
 * not use this file: the construct generates the same two lines for the module
 * `defineHourglass` was called in (see docs/deploy.md), so its ingest carries exactly the
 * definitions its rules route.
 */
export const handler = ingestHandler(definitions);
