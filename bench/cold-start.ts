import { spawnSync } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** What a function costs before its first event: its bundle and its module initialisation. */
export interface ColdStart {
  readonly function: string;
  readonly bundleBytes: number;
  /** Median ms to import the bundle (module initialisation), AWS SDK loaded from disk. */
  readonly initMs: number;
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** Inside the project, so a bundle can resolve anything it leaves out from node_modules. */
const OUT = fileURLToPath(new URL('./.bundles/', import.meta.url));

/** The functions measured: the three of the runtime and an example worker. */
const ENTRIES = {
  ingest: 'functions/ingest.ts',
  relay: 'functions/relay.ts',
  sweeper: 'functions/sweeper.ts',
  worker: 'functions/workers/publish-product.ts',
} as const;

/** The environment the handlers read at module scope, with placeholder values. */
const ENV = {
  HOURGLASS_TABLE_NAME: 't',
  HOURGLASS_BUS_NAME: 'b',
  HOURGLASS_TASK_QUEUE_URL_PREFIX: 'https://sqs.us-east-1.amazonaws.com/123456789012/q-',
  HOURGLASS_TASK_QUEUE_ARN_PREFIX: 'arn:aws:sqs:us-east-1:123456789012:q-',
  HOURGLASS_SCHEDULE_GROUP: 'g',
  HOURGLASS_SCHEDULER_ROLE_ARN: 'arn:aws:iam::123456789012:role/r',
  HOURGLASS_SCHEDULER_DLQ_ARN: 'arn:aws:sqs:us-east-1:123456789012:d',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'x',
  AWS_SECRET_ACCESS_KEY: 'x',
};

/**
 * Bundles each function as the construct does (infra/function.ts: esbuild, minified ESM for
 * node22, the AWS SDK bundled in) and times its import in a fresh process, the median of
 * `runs`. AWS: "Duration charges apply to code that runs in the handler of a function as
 * well as initialization code that is declared outside of the handler" (Lambda pricing);
 * this is the part of the init phase the code decides.
 */
export async function measureColdStarts(runs = 5): Promise<ColdStart[]> {
  await mkdir(OUT, { recursive: true });
  const results: ColdStart[] = [];
  try {
    for (const [name, entry] of Object.entries(ENTRIES)) {
      const outfile = `${OUT}${name}.mjs`;
      await build({
        entryPoints: [`${ROOT}${entry}`],
        outfile,
        bundle: true,
        minify: true,
        platform: 'node',
        format: 'esm',
        target: 'node22',
        mainFields: ['module', 'main'],
        banner: {
          js: "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
        },
        logLevel: 'error',
      });
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const run = spawnSync(
          process.execPath,
          [
            '--input-type=module',
            '-e',
            `const t = performance.now(); await import(${JSON.stringify(outfile)}); process.stdout.write(String(performance.now() - t));`,
          ],
          { env: { ...process.env, ...ENV }, encoding: 'utf8' },
        );
        if (run.status !== 0) throw new Error(`importing the ${name} bundle failed: ${run.stderr}`);
        times.push(Number(run.stdout));
      }
      times.sort((a, b) => a - b);
      results.push({
        function: name,
        bundleBytes: (await stat(outfile)).size,
        initMs: Math.round(times[Math.floor(times.length / 2)]!),
      });
    }
  } finally {
    await rm(OUT, { recursive: true, force: true });
  }
  return results;
}
