import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { HourglassDefinitions, Json } from './definitions';
import { HourglassError } from './errors';
import type { EventType } from './event-types';
import {
  type Outage,
  type SimulatedInstance,
  type SimulatedTask,
  type SimulationInput,
  type SimulationResult,
  simulate,
} from './simulator';
import { formatInstant, parseDuration, parseInstant } from './time';

/**
 * A testing helper for your own workflows, in your own test runner: write a scenario of
 * events on a virtual clock, run it through the simulator (the same decider and task rules
 * the deployed runtime uses), and assert on tasks, instances and times.
 *
 * Times are offsets from the scenario's start (`'0s'`, `'30m'`, `'2d'`, `'1d6h'`) or ISO
 * instants. An event happens at `at` and arrives at `arrives` (default: when it happens),
 * so out-of-order and late deliveries are one option away.
 *
 * @example
 * const s = scenario(definitions, { start: '2026-03-01T09:00:00Z' })
 *   .emit(TrialStarted, { userId: 'u1', trialEndsAt: '2026-03-15T09:00:00Z' })
 *   // a payment made before the reminder was due, delivered after it ran:
 *   .emit(SubscriptionPaid, { userId: 'u1' }, { at: '10d', arrives: '12d' });
 * const result = await s.run();
 * expect(result.task('send-trial-reminder', 'u1')).toMatchObject({
 *   status: 'COMPLETED',
 *   startedAt: s.time('11d'),
 *   lateCancel: true,
 * });
 */
export function scenario(definitions: HourglassDefinitions, options: ScenarioOptions = {}) {
  return new Scenario(definitions, parseInstant(options.start ?? DEFAULT_START, 'start'));
}

/** Options of {@link scenario}. */
export interface ScenarioOptions {
  /** The virtual clock's start, ISO-8601. @default '2026-01-05T09:00:00.000Z' (a Monday) */
  readonly start?: string;
}

/** When an emitted event happens and arrives: offsets from the start, or ISO instants. */
export interface EmitTiming {
  /** When the event happened (its `time`). @default the last event's `at`, or the start */
  readonly at?: string;
  /** When it reaches Hourglass. @default when it happened */
  readonly arrives?: string;
  /** The event's id, for a duplicate delivery of one event. @default e1, e2, … */
  readonly id?: string;
}

/** The default start of a scenario's clock: a Monday morning, UTC. */
export const DEFAULT_START = '2026-01-05T09:00:00.000Z';

/** A scenario being written; {@link Scenario.run} runs it. */
export class Scenario {
  private readonly inputs: SimulationInput[] = [];
  private readonly failures: Record<string, number> = {};
  private readonly results: Record<string, (input: Json) => Json> = {};
  private readonly outages: Outage[] = [];
  private lastAt: number;
  private nextId = 1;

  constructor(
    private readonly definitions: HourglassDefinitions,
    /** The virtual clock's start, epoch ms. */
    readonly start: number,
  ) {
    this.lastAt = start;
  }

  /** The instant `offset` after the start (or an ISO instant), as ISO-8601 UTC. */
  time(offset: string): string {
    return formatInstant(this.instant(offset, 'time'));
  }

  /**
   * Adds an event of `type` with `detail` (validated when the scenario runs: a detail the
   * schema refuses shows in `rejected`, as it would be rejected when deployed).
   */
  emit<Type extends EventType>(
    type: Type,
    detail: StandardSchemaV1.InferInput<Type['schema']>,
    timing: EmitTiming = {},
  ): this {
    const at = timing.at === undefined ? this.lastAt : this.instant(timing.at, 'at');
    const arrives = timing.arrives === undefined ? at : this.instant(timing.arrives, 'arrives');
    this.lastAt = at;
    const id = timing.id ?? `e${this.nextId++}`;
    this.inputs.push({
      event: {
        id,
        source: type.source,
        'detail-type': type.detailType,
        time: formatInstant(at),
        detail,
      },
      arrivedAt: arrives,
    });
    return this;
  }

  /** Makes the handler of `taskType` return `result(input)`: the completed task's result. */
  returning(taskType: string | { readonly name: string }, result: (input: Json) => Json): this {
    this.results[typeof taskType === 'string' ? taskType : taskType.name] = result;
    return this;
  }

  /** Makes the first `attempts` attempts of every task of `taskType` fail. */
  failing(taskType: string | { readonly name: string }, attempts: number): this {
    this.failures[typeof taskType === 'string' ? taskType : taskType.name] = attempts;
    return this;
  }

  /** Takes a task type's workers down from `from` until `to` (offsets or instants). */
  workersDown(
    taskType: string | { readonly name: string },
    window: { readonly from: string; readonly to: string },
  ): this {
    this.outages.push({
      taskType: typeof taskType === 'string' ? taskType : taskType.name,
      from: this.instant(window.from, 'from'),
      to: this.instant(window.to, 'to'),
    });
    return this;
  }

  /** Runs the scenario until `until` (an offset or instant; default 30 days after the last event). */
  async run(until?: string): Promise<ScenarioResult> {
    const result = await simulate({
      definitions: this.definitions,
      events: this.inputs,
      failures: this.failures,
      results: this.results,
      outages: this.outages,
      ...(until === undefined ? {} : { until: this.instant(until, 'until') }),
    });
    return new ScenarioResult(result);
  }

  private instant(value: string, field: string): number {
    if (/^\d{4}-\d{2}-\d{2}T/.test(value)) return parseInstant(value, field);
    return this.start + parseDuration(value, field);
  }
}

/** What a scenario ended with, with finders that say what there was when they find nothing. */
export class ScenarioResult implements SimulationResult {
  readonly tasks: SimulatedTask[];
  readonly instances: SimulatedInstance[];
  readonly rejected: SimulationResult['rejected'];
  readonly runs: SimulationResult['runs'];

  constructor(result: SimulationResult) {
    this.tasks = result.tasks;
    this.instances = result.instances;
    this.rejected = result.rejected;
    this.runs = result.runs;
  }

  /** Every task of `taskType` (for `key`, when given), oldest first. */
  tasksOf(taskType: string | { readonly name: string }, key?: string): SimulatedTask[] {
    const name = typeof taskType === 'string' ? taskType : taskType.name;
    return this.tasks.filter((t) => t.taskType === name && (key === undefined || t.key === key));
  }

  /** The one task of `taskType` (for `key`); throws, listing the tasks, if there is not exactly one. */
  task(taskType: string | { readonly name: string }, key?: string): SimulatedTask {
    const found = this.tasksOf(taskType, key);
    if (found.length === 1) return found[0]!;
    const name = typeof taskType === 'string' ? taskType : taskType.name;
    throw new HourglassError(
      `expected one '${name}' task${key === undefined ? '' : ` for key '${key}'`}, found ${found.length}; the tasks were: ${this.describeTasks()}`,
    );
  }

  /** The instance of `workflow` for `key`; throws, listing the instances, when there is none. */
  instance(workflow: string | { readonly name: string }, key: string): SimulatedInstance {
    const name = typeof workflow === 'string' ? workflow : workflow.name;
    const found = this.instances.find((i) => i.workflow === name && i.key === key);
    if (found !== undefined) return found;
    const known = this.instances.map((i) => `${i.workflow}/${i.key} (${i.state})`).join(', ');
    throw new HourglassError(
      `no instance of '${name}' for key '${key}'; the instances were: ${known || 'none'}`,
    );
  }

  private describeTasks(): string {
    if (this.tasks.length === 0) return 'none';
    return this.tasks
      .map((t) => `${t.taskType} for '${t.key}' ${t.status} due ${t.dueAt}`)
      .join('; ');
  }
}
