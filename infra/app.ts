import { join } from 'node:path';
import { App, Aspects, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import definitions from '../workflows';
import { exampleEffectsPolicy, Hourglass } from './hourglass';
import { suppressAcceptedFindings } from './nag';

/** The example app: J1–J6 with their workers, in one stack named `Hourglass`. */
const app = new App();
const stack = new Stack(app, 'Hourglass', {
  description: 'Hourglass: event-driven durable timers (example journeys J1–J6)',
});
const hourglass = new Hourglass(stack, 'Hourglass', {
  workflows: definitions,
  removalPolicy: RemovalPolicy.DESTROY,
});
for (const taskType of definitions.taskTypes) {
  const worker = hourglass.addWorker(taskType.name, {
    entry: join(import.meta.dirname, `../functions/workers/${taskType.name}.ts`),
  });
  // The example workers record their "effects" as rows of their own (EFFECT#<task id>).
  worker.function.addToRolePolicy(exampleEffectsPolicy(hourglass));
}
suppressAcceptedFindings([hourglass]);
Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
Aspects.of(app).add(new ServerlessChecks({ verbose: true }));
