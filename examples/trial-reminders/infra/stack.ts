import { join } from 'node:path';
import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { Hourglass } from 'hourglass/infra';
import definitions from '../workflows';

/** The app's stack: Hourglass with this app's workflows, and one worker per task type. */
export class TrialRemindersStack extends Stack {
  readonly hourglass: Hourglass;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    this.hourglass = new Hourglass(this, 'Hourglass', {
      workflows: definitions,
      removalPolicy: RemovalPolicy.DESTROY, // an example: a real app keeps its table
    });
    for (const taskType of definitions.taskTypes) {
      this.hourglass.addWorker(taskType.name, {
        entry: join(import.meta.dirname, `../workers/${taskType.name}.ts`),
      });
    }
  }
}
