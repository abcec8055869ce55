import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the receiver does with the next request: answer with a status, hang, or reset. */
export type Fault = number | 'hang' | 'reset';

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  answered: Fault;
}

/**
 * A real webhook receiver on 127.0.0.1 (node:http). `faults` is consumed one per request;
 * once empty every request gets 200. `received` lists every request, whatever it got.
 */
export async function startReceiver() {
  const received: Received[] = [];
  const faults: Fault[] = [];
  const waiters: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const answered = faults.shift() ?? 200;
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString(), answered });
      for (const w of waiters.splice(0)) w();
      if (answered === 'hang') return; // never answers; the sender's timeout ends it
      if (answered === 'reset') return req.socket.destroy();
      res.writeHead(answered, { 'content-type': 'text/plain' }).end(`answer ${answered}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    faults,
    /** Delivered = answered 2xx. */
    delivered: () => received.filter((r) => typeof r.answered === 'number' && r.answered < 300),
    async waitFor(pred: () => boolean, ms = 20_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error('receiver: condition not met in time');
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 50).unref();
        });
      }
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * An independent Standard Webhooks verifier, written from the specification
 * (https://www.standardwebhooks.com): not the SDK's and not the server's code.
 */
export function standardWebhooksVerify(
  secret: string,
  headers: http.IncomingHttpHeaders,
  body: string,
  nowS: number,
): boolean {
  const id = String(headers['webhook-id']);
  const ts = String(headers['webhook-timestamp']);
  if (Math.abs(nowS - Number(ts)) > 300) return false;
  const key = Buffer.from(secret.split('_')[1]!, 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest();
  return String(headers['webhook-signature'])
    .split(' ')
    .some((part) => {
      const [version, sig] = part.split(',');
      const got = Buffer.from(sig ?? '', 'base64');
      return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
    });
}
