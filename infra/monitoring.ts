import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { Metric } from '../shared/aws/telemetry';
import type { Hourglass } from './hourglass';

/** Hourglass's alarms and dashboard: what an operator is told, and what they can see. */

/** Makes the construct's alarms: each notifies the topic, if any, and is listed. */
export class AlarmFactory {
  constructor(
    private readonly topic: sns.ITopic | undefined,
    private readonly alarms: cloudwatch.Alarm[],
  ) {}

  /** Creates an alarm that notifies the alarm topic, if any, and lists it in `alarms`. */
  alarm(scope: Construct, id: string, props: cloudwatch.AlarmProps): cloudwatch.Alarm {
    const alarm = new cloudwatch.Alarm(scope, id, props);
    if (this.topic) {
      const action = new cloudwatchActions.SnsAction(this.topic);
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    this.alarms.push(alarm);
    return alarm;
  }

  /** Alarms when a dead-letter queue holds any message. */
  onDlq(scope: Construct, name: string, dlq: sqs.Queue) {
    this.alarm(scope, `${name}DLQDepthAlarm`, {
      metric: dlq.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `${name} messages reached the dead-letter queue: inspect and redrive them`,
    });
  }

  /** Alarms when a queue's oldest message waits too long (and on its DLQ, if given). */
  onQueue(scope: Construct, name: string, queue: sqs.Queue, dlq?: sqs.Queue, maxAgeSeconds = 300) {
    if (dlq) this.onDlq(scope, name, dlq);
    this.alarm(scope, `${name}OldestMessageAlarm`, {
      metric: queue.metricApproximateAgeOfOldestMessage({
        period: Duration.minutes(1),
        statistic: 'Maximum',
      }),
      threshold: maxAgeSeconds,
      evaluationPeriods: 3,
      alarmDescription: `${name} queue messages wait more than ${maxAgeSeconds}s: its consumer is failing or too slow`,
    });
  }

  /** One alarm on a function's errors (crashes, timeouts) and throttles together. */
  onFunction(scope: Construct, name: string, fn: lambda.Function) {
    this.alarm(scope, `${name}ErrorsAlarm`, {
      metric: new cloudwatch.MathExpression({
        expression: 'errors + throttles',
        usingMetrics: {
          errors: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
          throttles: fn.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
        },
        period: Duration.minutes(5),
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `The ${name} function crashed, timed out or was throttled: see its logs`,
    });
  }
}

/** The alarms on the runtime's queues, functions and metrics (the workers add their own). */
export function addRuntimeAlarms(hourglass: Hourglass, alarms: AlarmFactory): void {
  alarms.onQueue(hourglass, 'Ingest', hourglass.ingestQueue, hourglass.ingestDeadLetterQueue);
  alarms.onDlq(hourglass, 'Task', hourglass.taskDeadLetterQueue);
  alarms.onDlq(hourglass, 'Scheduler', hourglass.schedulerDeadLetterQueue);
  alarms.onDlq(hourglass, 'Relay', hourglass.relayDeadLetterQueue);
  for (const [name, fn] of [
    ['Ingest', hourglass.ingestFunction],
    ['Relay', hourglass.relayFunction],
    ['Sweeper', hourglass.sweeperFunction],
  ] as const)
    alarms.onFunction(hourglass, name, fn);
  alarms.alarm(hourglass, 'RelayIteratorAgeAlarm', {
    metric: hourglass.relayFunction.metric('IteratorAge', {
      statistic: 'Maximum',
      period: Duration.minutes(1),
    }),
    threshold: 60_000,
    evaluationPeriods: 5,
    alarmDescription:
      'The relay is more than a minute behind the table stream: timers and lifecycle events are late',
  });
  alarms.alarm(hourglass, 'TasksFailedAlarm', {
    metric: hourglassTotal(Metric.failed, Duration.minutes(5)),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    alarmDescription:
      'Tasks FAILED (retries exhausted or a NonRetryableError): see `lastError` on their rows',
  });
  for (const [id, metric, what] of [
    ['TimersResentAlarm', Metric.timersResent, 'lost timers'],
    ['LifecycleRepublishedAlarm', Metric.lifecycleRepublished, 'lost lifecycle events'],
  ] as const) {
    alarms.alarm(hourglass, id, {
      metric: hourglassTotal(metric, Duration.minutes(5)),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      alarmDescription: `The sweeper re-sent ${what}: the pipeline is losing work (check the relay and Scheduler DLQs and the relay's errors)`,
    });
  }
}

/**
 * The sum of a Hourglass metric over every dimension set it is emitted with. Powertools
 * adds a `service` dimension to every metric, and the runtime adds `taskType` to some, so a
 * metric read with no dimensions would match nothing; a Metrics Insights query over the
 * namespace matches them all.
 */
function hourglassTotal(metric: Metric, period: Duration): cloudwatch.MathExpression {
  return new cloudwatch.MathExpression({
    expression: `SELECT SUM(${metric}) FROM "Hourglass"`,
    label: metric,
    period,
  });
}

/** The dashboard's graphs: events, tasks, timer lateness, relay and sweeper. */
export function addDashboardWidgets(dashboard: cloudwatch.Dashboard, relay: lambda.Function): void {
  const total = (name: Metric) => hourglassTotal(name, Duration.minutes(1));
  // Lateness is per task type; SEARCH keeps one line per type, with percentiles.
  const lateness = (statistic: string) =>
    new cloudwatch.MathExpression({
      expression: `SEARCH('{Hourglass,service,taskType} MetricName="${Metric.lateness}"', '${statistic}', 60)`,
      label: `lateness ${statistic}`,
      period: Duration.minutes(1),
    });
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Events',
      left: [Metric.eventsAccepted, Metric.eventsRejected, Metric.duplicates, Metric.conflicts].map(
        total,
      ),
    }),
    new cloudwatch.GraphWidget({
      title: 'Tasks',
      left: [
        Metric.scheduled,
        Metric.cancelled,
        Metric.lateCancels,
        Metric.completed,
        Metric.failed,
        Metric.expired,
        Metric.retried,
      ].map(total),
    }),
    new cloudwatch.GraphWidget({
      title: 'Timer lateness (ms)',
      left: [lateness('p50'), lateness('p99')],
    }),
    new cloudwatch.GraphWidget({
      title: 'Relay and sweeper',
      left: [
        Metric.timersArmed,
        Metric.lifecycleEvents,
        Metric.timersResent,
        Metric.lifecycleRepublished,
        Metric.handedBack,
      ].map(total),
      right: [relay.metric('IteratorAge', { statistic: 'Maximum' })],
    }),
  );
}
