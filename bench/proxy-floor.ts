import { once } from 'node:events';
import { createServer } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

/**
 * The floor of the proxy bench: the least a Node proxy can do, on the same stack Keyplane uses
 * (node:http in front, an undici Pool behind, keep-alive, no pipelining). No key check, no
 * credential, no path or header rules, no metering, no logging, no scrubbing: each request's
 * method, path and headers (minus Host and Connection) go to `upstream`, whose status, headers
 * and body stream back as they are. What Keyplane costs on top of it is its own work.
 */
export async function startFloorProxy(upstream: string, connections = 64) {
  const pool = new Pool(upstream, { connections, pipelining: 1 });
  const server = createServer((req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && name !== 'host' && name !== 'connection') headers[name] = value;
    }
    pool.request(
      {
        path: req.url ?? '/',
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
      },
      (err, answer) => {
        if (err) {
          res.writeHead(502).end();
          return;
        }
        const out: Record<string, string | string[]> = {};
        for (const [name, value] of Object.entries(answer.headers)) {
          if (value !== undefined && name !== 'connection' && name !== 'keep-alive') {
            out[name] = value;
          }
        }
        res.writeHead(answer.statusCode, out);
        answer.body.pipe(res);
      },
    );
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.close();
    },
  };
}
