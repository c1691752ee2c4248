import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/**
 * A Hourglass Lambda function: nodejs22.x on arm64, bundled by the local esbuild as
 * minified ESM with source maps, X-Ray tracing, and a log group kept for a month.
 */
export function bundled(
  scope: Construct,
  id: string,
  entry: string,
  props: Partial<ConstructorParameters<typeof NodejsFunction>[2]> = {},
) {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: logs.RetentionDays.ONE_MONTH,
  });
  return new NodejsFunction(scope, id, {
    entry,
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: 256,
    tracing: lambda.Tracing.ACTIVE,
    logGroup,
    bundling: {
      minify: true,
      sourceMap: true,
      format: OutputFormat.ESM,
      target: 'node22',
      mainFields: ['module', 'main'],
      banner:
        "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
    },
    ...props,
    environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
  });
}
