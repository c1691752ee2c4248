import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** The metric names the runtime emits (EMF, namespace `Hourglass`). */
export const Metric = {
  eventsAccepted: 'EventsAccepted',
  eventsRejected: 'EventsRejected',
  duplicates: 'DuplicateEvents',
  conflicts: 'DecisionConflicts',
  scheduled: 'TasksScheduled',
  cancelled: 'TasksCancelled',
  lateCancels: 'LateCancels',
  completed: 'TasksCompleted',
  failed: 'TasksFailed',
  expired: 'TasksExpired',
  retried: 'TaskRetries',
  lateness: 'TimerLatenessMs',
  timersArmed: 'TimersArmed',
  lifecycleEvents: 'LifecycleEventsPublished',
  /** Timer messages a worker handed back unclaimed: its invocation had no time left. */
  handedBack: 'TimersHandedBack',
  /** Timers the sweeper sent again: each one is a timer that was lost. */
  timersResent: 'TimersResent',
  /** Lifecycle events the sweeper published again: each one was lost by the relay. */
  lifecycleRepublished: 'LifecycleEventsRepublished',
} as const;
/** One of {@link Metric}. */
export type Metric = (typeof Metric)[keyof typeof Metric];

/** What the runtime logs and measures through; tests pass a recording fake. */
export interface Telemetry {
  count(metric: Metric, value?: number, dimensions?: Readonly<Record<string, string>>): void;
  latency(metric: Metric, ms: number, dimensions?: Readonly<Record<string, string>>): void;
  info(message: string, fields?: Readonly<Record<string, unknown>>): void;
  warn(message: string, fields?: Readonly<Record<string, unknown>>): void;
  error(message: string, fields?: Readonly<Record<string, unknown>>): void;
  /** Writes out buffered metrics; call once per invocation. */
  flush(): void;
}

type Unit = (typeof MetricUnit)[keyof typeof MetricUnit];

/**
 * Telemetry through Powertools: structured JSON logs and EMF metrics.
 *
 * Metrics are buffered for the invocation and written at `flush`, one EMF document per set
 * of dimensions, with the values of a metric as one array (EMF allows up to 100 values per
 * metric: "Values ... Array of up to 100 values", CloudWatch User Guide, "Embedded metric
 * format specification"; Powertools writes them so). A batch of ten tasks of one type is
 * then one log line, not one per task and metric: EMF is billed as log ingestion, and a
 * document per task was most of the bytes a task logged (docs/cost.md).
 */
export function powertoolsTelemetry(serviceName: string): Telemetry {
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({ namespace: 'Hourglass', serviceName });
  let recorded = false;
  const grouped = new Map<
    string,
    { dimensions: Readonly<Record<string, string>>; values: [Metric, Unit, number][] }
  >();
  const emit = (
    metric: Metric,
    unit: Unit,
    value: number,
    dimensions?: Readonly<Record<string, string>>,
  ) => {
    if (dimensions && Object.keys(dimensions).length > 0) {
      const id = JSON.stringify(Object.entries(dimensions).sort());
      const group = grouped.get(id) ?? { dimensions, values: [] };
      group.values.push([metric, unit, value]);
      grouped.set(id, group);
    } else {
      recorded = true;
      metrics.addMetric(metric, unit, value);
    }
  };
  return {
    count: (metric, value = 1, dimensions) => emit(metric, MetricUnit.Count, value, dimensions),
    latency: (metric, ms, dimensions) => emit(metric, MetricUnit.Milliseconds, ms, dimensions),
    info: (message, fields) => logger.info(message, { ...fields }),
    warn: (message, fields) => logger.warn(message, { ...fields }),
    error: (message, fields) => logger.error(message, { ...fields }),
    // Publishing nothing makes Powertools warn on every invocation; only flush what was recorded.
    flush: () => {
      if (recorded) {
        recorded = false;
        metrics.publishStoredMetrics();
      }
      for (const { dimensions, values } of grouped.values()) {
        const group = new Metrics({ namespace: 'Hourglass', serviceName });
        group.addDimensions({ ...dimensions });
        for (const [metric, unit, value] of values) group.addMetric(metric, unit, value);
        group.publishStoredMetrics();
      }
      grouped.clear();
    },
  };
}

/** Telemetry that records everything in memory: for tests and the local cloud's summaries. */
export function memoryTelemetry() {
  const counts: Record<string, number> = {};
  const latencies: Record<string, number[]> = {};
  const logs: { level: string; message: string; fields?: Readonly<Record<string, unknown>> }[] = [];
  const telemetry: Telemetry = {
    count: (metric, value = 1, dimensions) => {
      const name = dimensions?.taskType ? `${metric}:${dimensions.taskType}` : metric;
      counts[name] = (counts[name] ?? 0) + value;
      if (name !== metric) counts[metric] = (counts[metric] ?? 0) + value;
    },
    latency: (metric, ms) => {
      const list = latencies[metric] ?? [];
      list.push(ms);
      latencies[metric] = list;
    },
    info: (message, fields) => logs.push({ level: 'info', message, fields }),
    warn: (message, fields) => logs.push({ level: 'warn', message, fields }),
    error: (message, fields) => logs.push({ level: 'error', message, fields }),
    flush: () => {},
  };
  return { telemetry, counts, latencies, logs };
}
