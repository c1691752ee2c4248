import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Runs a benchmark script again in a process of its own, with `arg`, and returns the JSON
 * object it prints last. A local cloud needs a process to itself: the Lambda handlers read
 * their configuration once, at cold start, as on AWS. `what` names the run in errors.
 */
export async function inChild<T>(scriptUrl: string, arg: string, what: string): Promise<T> {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(scriptUrl), arg], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  const last = out.trim().split('\n').at(-1) ?? '';
  if (code !== 0 || !last.startsWith('{'))
    throw new Error(`${what} failed (exit ${code}): ${out.slice(-2_000)}`);
  return JSON.parse(last) as T;
}
