import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';

/**
 * The provider stand-in the proxy benches load: a small JSON answer (~450 bytes, with a
 * Content-Length), as fast as Node answers. `in-process` runs it on this process's main
 * thread (shared with an in-process Keyplane); `child-process` in a process of its own
 * (`node --import tsx bench/proxy-upstream.ts serve`, which prints its port).
 */
export interface Upstream {
  url: string;
  close(): Promise<void>;
}

function upstreamServer(): Server {
  const body = JSON.stringify({
    models: [{ name: 'models/gemini-2.0-flash' }],
    pad: 'x'.repeat(400),
  });
  return createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      res.end(body);
    });
  });
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

async function inProcess(): Promise<Upstream> {
  const server = upstreamServer();
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function childProcess(): Promise<Upstream> {
  const child = spawn(process.execPath, ['--import', 'tsx', import.meta.filename, 'serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  return {
    url: `http://127.0.0.1:${Number(chunk.toString().trim())}`,
    close: async () => {
      child.kill();
      await once(child, 'exit');
    },
  };
}

export function startUpstream(where: 'in-process' | 'child-process'): Promise<Upstream> {
  return where === 'in-process' ? inProcess() : childProcess();
}

if (process.argv[1] === import.meta.filename && process.argv[2] === 'serve') {
  const port = await listen(upstreamServer());
  process.stdout.write(`${port}\n`);
}
