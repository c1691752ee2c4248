import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HourglassError } from '../../shared/core/errors';
import { ASSETS, type Asset } from './assets';

/**
 * The dashboard's web server: the page, its scripts, and a JSON API over the operator
 * functions. Its buttons change production state, so it is safe by construction:
 *
 * - it listens on 127.0.0.1 only;
 * - every request must name this server in its Host header (127.0.0.1:PORT or
 *   localhost:PORT), so a DNS-rebinding page cannot reach it under another name;
 * - a request that changes anything is a POST with a JSON body, the Origin of this server,
 *   and the per-run token the page received in its HTML (X-Hourglass-Token); every API
 *   read carries the token too, so a foreign page cannot make it query production;
 * - it sends no CORS headers at all, so no other origin can read what it answers;
 * - its Content-Security-Policy allows scripts from itself only, and no framing.
 */

/** Header a mutating request carries the per-run token in. */
export const TOKEN_HEADER = 'x-hourglass-token';

/** What the dashboard reads and does: the operator API, bound to one target. */
export interface DashboardApi {
  /** What the page shows in its header, and the workflows it offers in its search. */
  describe(): { readonly target: string; readonly workflows: readonly string[] };
  /** GET routes: name → handler of the query's parameters. */
  readonly reads: Readonly<Record<string, (params: URLSearchParams) => Promise<unknown>>>;
  /** POST routes: name → handler of the JSON body. */
  readonly actions: Readonly<Record<string, (body: Record<string, unknown>) => Promise<unknown>>>;
}

/** A running dashboard. */
export interface Dashboard {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  /** The per-run token the page sends with every action. */
  readonly token: string;
  close(): Promise<void>;
}

/** A request the dashboard refuses, with the HTTP status to answer. */
class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
} as const;

/** Bodies of actions are small: a task id and a reason. */
const MAX_BODY_BYTES = 16 * 1024;

/**
 * Starts the dashboard on 127.0.0.1 (`port` 0 picks a free one). Refuses to start when
 * the port is taken, saying which option to change.
 */
export async function startDashboard(api: DashboardApi, port = 0): Promise<Dashboard> {
  const token = randomBytes(24).toString('base64url');
  let hosts = new Set<string>();
  let origins = new Set<string>();
  const server = createServer((request, response) => {
    handle(request, response).catch((error: Error) => {
      // A refused action (a finished task, say) is a conflict; other errors of Hourglass
      // are bad input; anything else is this server's fault.
      const status =
        error instanceof Refused
          ? error.status
          : error.name === 'OperatorRefusal'
            ? 409
            : error instanceof HourglassError
              ? 400
              : 500;
      const message = error instanceof Refused || error instanceof HourglassError;
      send(response, status, {
        error: message ? error.message : `internal error: ${error.message}`,
      });
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse) {
    if (!hosts.has(request.headers.host ?? '')) {
      throw new Refused(
        403,
        `this dashboard answers only to ${[...hosts].join(' or ')}, not to Host '${request.headers.host ?? ''}'`,
      );
    }
    const url = new URL(request.url ?? '/', `http://${request.headers.host}`);
    if (request.method === 'GET' || request.method === 'HEAD') return read(request, url, response);
    if (request.method !== 'POST') throw new Refused(405, `${request.method} is not allowed here`);
    checkAction(request);
    const name = url.pathname.replace(/^\/api\//, '');
    const action =
      url.pathname.startsWith('/api/') && Object.hasOwn(api.actions, name)
        ? api.actions[name]
        : undefined;
    if (action === undefined) throw new Refused(404, `no action ${url.pathname}`);
    send(response, 200, await action(await jsonBody(request)));
  }

  /** A mutating request must come from this dashboard's own page, with its token. */
  function checkAction(request: IncomingMessage) {
    const origin = request.headers.origin;
    if (origin === undefined || !origins.has(origin)) {
      throw new Refused(
        403,
        `actions are accepted only from this dashboard's own page (Origin ${origin ?? 'missing'})`,
      );
    }
    if (!(request.headers['content-type'] ?? '').startsWith('application/json')) {
      throw new Refused(415, 'actions take a JSON body (Content-Type: application/json)');
    }
    checkToken(request);
  }

  /**
   * Every API call carries the page's token, reads too: a foreign page could not read the
   * answers anyway, but must not make the dashboard query production on its behalf.
   */
  function checkToken(request: IncomingMessage) {
    const given = Buffer.from(String(request.headers[TOKEN_HEADER] ?? ''));
    const expected = Buffer.from(token);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new Refused(403, 'missing or wrong dashboard token: reload the page');
    }
  }

  async function read(request: IncomingMessage, url: URL, response: ServerResponse) {
    if (url.pathname.startsWith('/api/')) {
      checkToken(request);
      const name = url.pathname.slice('/api/'.length);
      const reader = Object.hasOwn(api.reads, name) ? api.reads[name] : undefined;
      if (reader === undefined) throw new Refused(404, `no such API ${url.pathname}`);
      return send(response, 200, await reader(url.searchParams));
    }
    const asset =
      url.pathname === '/'
        ? ASSETS.page
        : Object.hasOwn(ASSETS.files, url.pathname)
          ? ASSETS.files[url.pathname]
          : undefined;
    if (asset === undefined) throw new Refused(404, `no page ${url.pathname}`);
    return sendAsset(response, asset, token, api.describe().target);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new HourglassError(`port ${port} on 127.0.0.1 is taken: pass --port with another one`)
          : error,
      ),
    );
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  hosts = new Set([`127.0.0.1:${bound}`, `localhost:${bound}`]);
  origins = new Set([...hosts].map((h) => `http://${h}`));
  return {
    url: `http://127.0.0.1:${bound}/`,
    token,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function send(response: ServerResponse, status: number, body: unknown) {
  response.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
  });
  response.end(JSON.stringify(body));
}

async function sendAsset(response: ServerResponse, asset: Asset, token: string, target: string) {
  let body: string | Buffer = await readFile(asset.path);
  if (asset.template) {
    body = body
      .toString('utf8')
      .replaceAll('{{token}}', token)
      .replaceAll('{{target}}', escapeHtml(target));
  }
  response.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': asset.type });
  response.end(body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function jsonBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Refused(413, 'the request body is too large');
    chunks.push(chunk as Buffer);
  }
  try {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body;
  } catch {}
  throw new Refused(400, 'the request body is not a JSON object');
}
