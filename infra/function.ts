import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEPLOYED_LOG_LEVEL, FUNCTION_MEMORY_MB, TRACING_BY_DEFAULT } from '../shared/aws/settings';

/** What the functions record about themselves, and what it costs (see docs/deploy.md). */
export interface Observability {
  /**
   * X-Ray active tracing. AWS: "By default, the X-Ray SDK records the first request each
   * second, and five percent of any additional requests" (X-Ray Developer Guide, "Sampling
   * rules"), so at low volume nearly every invocation is a trace at $5 per million: more
   * than the rest of a task costs. @default false
   */
  readonly tracing?: boolean;
  /** Powertools log level. Metrics (EMF) are written whatever the level. @default 'WARN' */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

/**
 * A Hourglass Lambda function: nodejs22.x on arm64, bundled by the local esbuild as
 * minified ESM with source maps, a log group kept for a month, and the observability asked for.
 */
export function bundled(
  scope: Construct,
  id: string,
  entry: string,
  props: Partial<ConstructorParameters<typeof NodejsFunction>[2]> = {},
  observability: Observability = {},
) {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: logs.RetentionDays.ONE_MONTH,
  });
  return new NodejsFunction(scope, id, {
    entry,
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: FUNCTION_MEMORY_MB,
    tracing:
      (observability.tracing ?? TRACING_BY_DEFAULT)
        ? lambda.Tracing.ACTIVE
        : lambda.Tracing.DISABLED,
    logGroup,
    bundling: {
      minify: true,
      sourceMap: true,
      // One tree-shaken file starts faster than the runtime's SDK read from hundreds of
      // files: the import takes about half as long (bench:cost measures it), and the SDK's
      // version is the one the tests ran.
      bundleAwsSDK: true,
      format: OutputFormat.ESM,
      target: 'node22',
      mainFields: ['module', 'main'],
      banner:
        "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
    },
    ...props,
    environment: {
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_LOG_LEVEL: observability.logLevel ?? DEPLOYED_LOG_LEVEL,
      ...props.environment,
    },
  });
}
