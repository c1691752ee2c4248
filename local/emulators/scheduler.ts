import { type Emulator, type EmulatorResponse, serve } from './http';

/** A stored one-shot schedule, as GetSchedule returns it. */
export interface StoredSchedule {
  readonly Name: string;
  readonly GroupName: string;
  readonly Arn: string;
  readonly ScheduleExpression: string;
  readonly ScheduleExpressionTimezone?: string;
  readonly State: 'ENABLED' | 'DISABLED';
  readonly Target: Record<string, unknown>;
  readonly FlexibleTimeWindow: Record<string, unknown>;
  readonly ActionAfterCompletion?: string;
  readonly Description?: string;
  readonly CreationDate: number;
  readonly LastModificationDate: number;
}

const seconds = () => Math.floor(Date.now() / 1000);

const fail = (status: number, type: string, message: string): EmulatorResponse => ({
  status,
  headers: { 'x-amzn-errortype': type },
  body: { Message: message, message },
});

const keyOf = (group: string, name: string) => `${group}/${name}`;

/**
 * EventBridge Scheduler's schedule API over the real wire protocol (REST-JSON):
 * CreateSchedule, GetSchedule, DeleteSchedule and ListSchedules. It stores schedules;
 * firing them is the schedule pump's job, which works the same against LocalStack.
 */
export async function startScheduler(
  options: { readonly region: string; readonly port?: number } = { region: 'us-east-1' },
) {
  const schedules = new Map<string, StoredSchedule>();
  const emulator: Emulator = await serve(async (request) => {
    if (request.path === '/schedules' && request.method === 'GET')
      return listSchedules(schedules, request.query);
    const named = /^\/schedules\/(.+)$/.exec(request.path);
    if (named === null)
      return fail(
        404,
        'ResourceNotFoundException',
        `no route for ${request.method} ${request.path}`,
      );
    const name = named[1]!;
    if (request.method === 'POST')
      return createSchedule(schedules, name, request.body, options.region);
    const group = request.query.get('groupName') ?? 'default';
    const stored = schedules.get(keyOf(group, name));
    if (stored === undefined)
      return fail(404, 'ResourceNotFoundException', `Schedule ${name} does not exist.`);
    if (request.method === 'GET') return { status: 200, body: stored };
    if (request.method === 'DELETE') {
      schedules.delete(keyOf(group, name));
      return { status: 200, body: {} };
    }
    return fail(405, 'ValidationException', `${request.method} is not supported`);
  }, options.port);
  return { ...emulator, schedules };
}

/** ListSchedules: a page of summaries, filtered by group and name prefix. */
function listSchedules(
  schedules: ReadonlyMap<string, StoredSchedule>,
  query: URLSearchParams,
): EmulatorResponse {
  const group = query.get('ScheduleGroup');
  const prefix = query.get('NamePrefix') ?? '';
  const max = Number(query.get('MaxResults') ?? 100);
  const start = Number(query.get('NextToken') ?? 0);
  const all = [...schedules.values()].filter(
    (s) => (group === null || s.GroupName === group) && s.Name.startsWith(prefix),
  );
  const page = all.slice(start, start + max);
  return {
    status: 200,
    body: {
      Schedules: page.map((s) => ({
        Arn: s.Arn,
        Name: s.Name,
        GroupName: s.GroupName,
        State: s.State,
        CreationDate: s.CreationDate,
        LastModificationDate: s.LastModificationDate,
        Target: { Arn: s.Target.Arn },
      })),
      ...(start + max < all.length ? { NextToken: String(start + max) } : {}),
    },
  };
}

/** CreateSchedule, with the checks of the service that the runtime could trip. */
function createSchedule(
  schedules: Map<string, StoredSchedule>,
  name: string,
  body: string,
  region: string,
): EmulatorResponse {
  const input = JSON.parse(body || '{}') as Record<string, unknown>;
  const group = (input.GroupName as string | undefined) ?? 'default';
  if (!/^[0-9a-zA-Z-_.]{1,64}$/.test(name))
    return fail(
      400,
      'ValidationException',
      `Name must match [0-9a-zA-Z-_.]+ and be at most 64 characters, got ${name}`,
    );
  if (
    typeof input.ScheduleExpression !== 'string' ||
    !/^(at|rate|cron)\(.+\)$/.test(input.ScheduleExpression)
  ) {
    return fail(400, 'ValidationException', 'Invalid Schedule Expression');
  }
  if (typeof (input.Target as { Arn?: unknown })?.Arn !== 'string')
    return fail(400, 'ValidationException', 'Target.Arn is required');
  if (schedules.has(keyOf(group, name)))
    return fail(409, 'ConflictException', `Schedule ${name} already exists.`);
  const arn = `arn:aws:scheduler:${region}:000000000000:schedule/${group}/${name}`;
  schedules.set(keyOf(group, name), {
    Name: name,
    GroupName: group,
    Arn: arn,
    ScheduleExpression: input.ScheduleExpression,
    ScheduleExpressionTimezone: input.ScheduleExpressionTimezone as string | undefined,
    State: (input.State as 'ENABLED' | 'DISABLED' | undefined) ?? 'ENABLED',
    Target: input.Target as Record<string, unknown>,
    FlexibleTimeWindow: (input.FlexibleTimeWindow as Record<string, unknown>) ?? { Mode: 'OFF' },
    ActionAfterCompletion: input.ActionAfterCompletion as string | undefined,
    Description: input.Description as string | undefined,
    CreationDate: seconds(),
    LastModificationDate: seconds(),
  });
  return { status: 200, body: { ScheduleArn: arn } };
}
