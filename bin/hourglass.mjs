#!/usr/bin/env node
// The `hourglass` command. Definitions are TypeScript, so the CLI runs through tsx's loader.
import { register } from 'tsx/esm/api';

// The AWS SDK warns on Node 20 that its releases after January 2027 need Node 22: known
// (README), and not news on every command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

register();
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2), {
  cwd: process.cwd(),
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
