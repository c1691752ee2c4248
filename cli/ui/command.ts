import {
  type Args,
  type CliIo,
  ExitCode,
  one,
  operatorName,
  runningDefinitions,
  UsageError,
} from '../args';
import { resolveTarget } from '../target';
import { dashboardApi } from './api';
import { startDashboard } from './server';

/** The port `hourglass ui` listens on unless `--port` says otherwise. */
export const DEFAULT_UI_PORT = 4680;

/** Who the dashboard records as having acted: the operator's login, marked as from the page. */
export function dashboardOperator(): string {
  return `${operatorName()} (dashboard)`;
}

/**
 * `hourglass ui [--stack NAME | --local] [--port N]`: serves the dashboard on 127.0.0.1
 * until Ctrl-C, pointed where the other operator commands point.
 */
export async function runUi(args: Args, io: CliIo): Promise<number> {
  const portText = one(args, '--port') ?? String(DEFAULT_UI_PORT);
  const port = Number(portText);
  if (!(Number.isInteger(port) && port >= 0 && port < 65_536)) {
    throw new UsageError(`--port must be a port number (0 picks a free one), got '${portText}'`);
  }
  const target = await resolveTarget({
    local: args.flags.has('--local'),
    stack: one(args, '--stack'),
  });
  const definitions = await runningDefinitions(args, io);
  const dashboard = await startDashboard(
    dashboardApi(target, definitions, dashboardOperator()),
    port,
  );
  io.out(`hourglass: ${target.description}\n`);
  io.out(`Dashboard on ${dashboard.url} (127.0.0.1 only; Ctrl-C to stop)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dashboard.close();
  return ExitCode.ok;
}
