import { App } from 'aws-cdk-lib';
import { TrialRemindersStack } from './stack';

/** `cdk deploy` from this folder (cdk.json) deploys the app's one stack. */
const app = new App();
new TrialRemindersStack(app, 'TrialReminders');
