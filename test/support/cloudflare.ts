import { request } from 'node:http';

/**
 * The test's own hand on a Cloudflare API (the lab's stand-in), as an operator in the dashboard
 * would act: one call, the envelope's `result`, or an error with the whole answer.
 */
export function cfApi(base: string, token: () => string) {
  return async <T = Record<string, unknown>>(method: string, p: string, body?: unknown): Promise<T> => {
    const r = await fetch(`${base}${p}`, {
      method,
      headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    const doc = (await r.json()) as { success: boolean; result: T };
    if (!doc.success) throw new Error(`${method} ${p}: ${JSON.stringify(doc)}`);
    return doc.result;
  };
}

export interface EdgeAnswer {
  status: number;
  body: string;
  /** The lab edge's `x-lab-edge`: `no-route`, or `tunnel ID` for a request it sent down a tunnel. */
  edge: string;
}

/** A request for a public hostname to the lab edge, as a browser's reaches Cloudflare's (Host kept). */
export function viaEdge(edge: { host: string; port: number }, host: string, p = '/'): Promise<EdgeAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ ...edge, path: p, headers: { host }, timeout: 30_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body, edge: String(res.headers['x-lab-edge'] ?? '') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}
