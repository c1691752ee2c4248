import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SQSClient } from '@aws-sdk/client-sqs';
import { endpointFor } from '../shared/aws/clients';
import { ENV } from '../shared/aws/config';
import { PumpMemory, pumpSchedules } from './schedule-pump';

/**
 * The schedule pump as a process, for LocalStack (whose Scheduler stores schedules but does
 * not fire them): every second it fires the due one-shot schedules of the group into their
 * SQS targets. Endpoints come from AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SCHEDULER / _SQS.
 *
 * @example AWS_ENDPOINT_URL=http://localhost:4566 HOURGLASS_SCHEDULE_GROUP=Hourglass-Hourglass npm run pump
 */
async function main() {
  const group = process.env[ENV.scheduleGroup];
  if (!group)
    throw new Error(
      `${ENV.scheduleGroup} is not set: set it to the stack's schedule group name (see the ScheduleGroup resource)`,
    );
  const scheduler = new SchedulerClient({ endpoint: endpointFor('SCHEDULER') });
  const sqs = new SQSClient({ endpoint: endpointFor('SQS') });
  process.stdout.write(
    `pumping schedule group ${group} at ${endpointFor('SCHEDULER') ?? 'AWS'} every second; Ctrl-C stops\n`,
  );
  const memory = new PumpMemory();
  for (;;) {
    try {
      await pumpSchedules(
        {
          scheduler,
          sqs,
          group,
          clock: () => Date.now(),
          onFire: (name, outcome, detail) =>
            process.stdout.write(
              `${new Date().toISOString()} ${outcome} ${name}${detail ? ` (${detail})` : ''}\n`,
            ),
        },
        memory,
      );
    } catch (error) {
      process.stderr.write(`pump: ${(error as Error).message}\n`);
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

main().catch((error) => {
  process.stderr.write(`hourglass pump: ${(error as Error).message}\n`);
  process.exit(1);
});
