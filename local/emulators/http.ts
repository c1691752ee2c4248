import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { LOCAL_HOST } from '../services';

/** A request as the emulators see it. */
export interface EmulatorRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

/** A response: status, headers, JSON body. */
export interface EmulatorResponse {
  readonly status: number;
  readonly headers?: Record<string, string>;
  readonly body: unknown;
}

/** A running emulator. */
export interface Emulator {
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Serves an emulator on 127.0.0.1 (a free port unless one is given). */
export async function serve(
  handle: (request: EmulatorRequest) => Promise<EmulatorResponse> | EmulatorResponse,
  port = 0,
): Promise<Emulator> {
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', `http://${LOCAL_HOST}`);
    let response: EmulatorResponse;
    try {
      response = await handle({
        method: req.method ?? 'GET',
        path: decodeURIComponent(url.pathname),
        query: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
    } catch (error) {
      response = {
        status: 500,
        headers: { 'x-amzn-errortype': 'InternalServerException' },
        body: { message: (error as Error).message, Message: (error as Error).message },
      };
    }
    res.writeHead(response.status, { 'content-type': 'application/json', ...response.headers });
    res.end(JSON.stringify(response.body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(port, LOCAL_HOST, resolve));
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    endpoint: `http://${LOCAL_HOST}:${actual}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
