import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Dashboard, type DashboardApi, startDashboard } from '../../cli/ui/server';
import { OperatorRefusal } from '../../shared/aws/operator-actions';

/**
 * The dashboard server's safety, request by request: it changes production state, so only
 * its own page, on 127.0.0.1, with the per-run token, may act; and no other origin may
 * read it.
 */

const acted: Record<string, unknown>[] = [];
const api: DashboardApi = {
  describe: () => ({ target: 'a test target <b>', workflows: ['w'] }),
  reads: { overview: async () => ({ counts: [] }) },
  actions: {
    cancel: async (body) => {
      if (body.taskId === 'finished')
        throw new OperatorRefusal("task 'finished' is already COMPLETED");
      acted.push(body);
      return { outcome: 'cancelled' };
    },
  },
};

let dashboard: Dashboard;
let port: number;
beforeAll(async () => {
  dashboard = await startDashboard(api, 0);
  port = Number(new URL(dashboard.url).port);
});
afterAll(() => dashboard.close());

/** A raw HTTP request, with the headers exactly as given (fetch would set Host and Origin itself). */
function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const own = () => ({
  host: `127.0.0.1:${port}`,
  origin: `http://127.0.0.1:${port}`,
  'content-type': 'application/json',
  'x-hourglass-token': dashboard.token,
});
const cancel = (headers: Record<string, string>, taskId = 't1') =>
  send('POST', '/api/cancel', headers, JSON.stringify({ taskId, reason: 'r' }));

describe('the dashboard server', () => {
  it('listens on 127.0.0.1 only', () => {
    expect(dashboard.url).toBe(`http://127.0.0.1:${port}/`);
  });

  it('serves its page with the per-run token, the target escaped, and a strict content policy', async () => {
    const page = await send('GET', '/', { host: `localhost:${port}` });
    expect(page.status).toBe(200);
    expect(page.text).toContain(`<meta name="hourglass-token" content="${dashboard.token}" />`);
    expect(page.text).toContain('a test target &#60;b&#62;');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  });

  it('serves every script and style from the package, so it works offline', async () => {
    const page = await send('GET', '/', { host: `127.0.0.1:${port}` });
    const assets = [...page.text.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(
      expect.arrayContaining([
        '/app.js',
        '/app.css',
        '/vendor/uPlot.iife.min.js',
        '/vendor/mermaid.min.js',
      ]),
    );
    for (const path of assets) {
      const asset = await send('GET', path, { host: `127.0.0.1:${port}` });
      expect(asset.status, path).toBe(200);
      expect(asset.text.length, path).toBeGreaterThan(100);
    }
  });

  it('answers API reads only with the token, so a foreign page cannot make it query production', async () => {
    const blind = await send('GET', '/api/overview', { host: `127.0.0.1:${port}` });
    expect(blind.status).toBe(403);
    const read = await send('GET', '/api/overview', {
      host: `127.0.0.1:${port}`,
      'x-hourglass-token': dashboard.token,
    });
    expect(read.status).toBe(200);
    const odd = await send('GET', '/api/constructor', {
      host: `127.0.0.1:${port}`,
      'x-hourglass-token': dashboard.token,
    });
    expect(odd.status).toBe(404);
  });

  it('refuses a request under another host name (DNS rebinding)', async () => {
    const rebound = await send('GET', '/api/overview', { host: `evil.example:${port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.text).toContain("not to Host 'evil.example");
    expect((await cancel({ ...own(), host: `evil.example:${port}` })).status).toBe(403);
    expect(acted).toEqual([]);
  });

  it('refuses an action from another origin, or with no origin', async () => {
    const other = await cancel({ ...own(), origin: 'https://attacker.example' });
    expect(other.status).toBe(403);
    expect(other.text).toContain('only from this dashboard');
    const { origin: _, ...noOrigin } = own();
    expect((await cancel(noOrigin)).status).toBe(403);
    expect(acted).toEqual([]);
  });

  it('refuses an action without the token, or with a wrong one', async () => {
    const { 'x-hourglass-token': _, ...noToken } = own();
    const missing = await cancel(noToken);
    expect(missing.status).toBe(403);
    expect(missing.text).toContain('token');
    expect((await cancel({ ...own(), 'x-hourglass-token': 'guess' })).status).toBe(403);
    expect(acted).toEqual([]);
  });

  it('refuses a form post (no JSON body), which a foreign page could send without a preflight', async () => {
    const form = await cancel({ ...own(), 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect(acted).toEqual([]);
  });

  it('sends no CORS headers, to a preflight or to anything else', async () => {
    const preflight = await send('OPTIONS', '/api/cancel', {
      host: `127.0.0.1:${port}`,
      origin: 'https://attacker.example',
      'access-control-request-method': 'POST',
    });
    expect(preflight.status).toBe(405);
    for (const response of [
      preflight,
      await send('GET', '/api/overview', {
        host: `127.0.0.1:${port}`,
        origin: 'https://attacker.example',
      }),
    ]) {
      expect(Object.keys(response.headers).filter((h) => h.startsWith('access-control-'))).toEqual(
        [],
      );
    }
  });

  it('acts for its own page with the token, and answers a refusal with its reason', async () => {
    const ok = await cancel(own());
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text)).toEqual({ outcome: 'cancelled' });
    expect(acted).toEqual([{ taskId: 't1', reason: 'r' }]);
    const refused = await cancel(own(), 'finished');
    expect(refused.status).toBe(409);
    expect(JSON.parse(refused.text).error).toContain('already COMPLETED');
  });

  it('says when its port is taken, and which option to change', async () => {
    await expect(startDashboard(api, port)).rejects.toThrow(
      `port ${port} on 127.0.0.1 is taken: pass --port with another one`,
    );
  });
});
