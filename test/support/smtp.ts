import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
}

/**
 * A real SMTP server on a loopback port (smtp-server), for email tests. Recipients can be made
 * to fail: `failNext(addr, n)` answers 451 (transient) to the next n deliveries to `addr`,
 * `rejectAlways(addr)` answers 550 (permanent) forever.
 */
export async function startSmtpServer() {
  const received: ReceivedMail[] = [];
  const transient = new Map<string, number>();
  const permanent = new Set<string>();
  let rcptAttempts = 0;
  const rcptAt = new Map<string, number[]>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 10 * 1024 * 1024,
    onRcptTo(address, _session, cb) {
      rcptAttempts += 1;
      const to = address.address.toLowerCase();
      rcptAt.set(to, [...(rcptAt.get(to) ?? []), Date.now()]);
      const left = transient.get(to) ?? 0;
      if (left > 0) {
        transient.set(to, left - 1);
        return cb(
          Object.assign(new Error('4.2.0 mailbox busy, try again later'), { responseCode: 451 }),
        );
      }
      if (permanent.has(to)) {
        return cb(Object.assign(new Error('5.1.1 no such user here'), { responseCode: 550 }));
      }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    rcptAttempts: () => rcptAttempts,
    /** Wall-clock times (ms) of every delivery attempt to `addr`, accepted or not. */
    rcptTimes: (addr: string) => rcptAt.get(addr.toLowerCase()) ?? [],
    to: (addr: string) => received.filter((m) => m.to.includes(addr.toLowerCase())),
    failNext(addr: string, times: number) {
      transient.set(addr.toLowerCase(), times);
    },
    rejectAlways(addr: string) {
      permanent.add(addr.toLowerCase());
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export type TestSmtpServer = Awaited<ReturnType<typeof startSmtpServer>>;

function decodeQuotedPrintable(text: string): string {
  const soft = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const hex = soft.slice(i + 1, i + 3);
    if (soft[i] === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(...Buffer.from(soft[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The decoded text parts of a raw MIME message, by content type, plus its top-level headers. */
export function mimeParts(raw: string): { headers: string; parts: Record<string, string> } {
  const [headers = '', ...rest] = raw.split(/\r?\n\r?\n/);
  const body = rest.join('\r\n\r\n');
  const parts: Record<string, string> = {};
  const boundaries = [...raw.matchAll(/boundary="?([^";\r\n]+)"?/gi)].map((m) => m[1]!);
  const chunks = boundaries.length
    ? boundaries.reduce<string[]>((acc, b) => acc.flatMap((c) => c.split(`--${b}`)), [body])
    : [`${headers}\r\n\r\n${body}`];
  for (const chunk of chunks) {
    const m = /^\s*([\s\S]*?)\r?\n\r?\n([\s\S]*)$/.exec(chunk);
    if (!m) continue;
    const type = /content-type:\s*([\w/-]+)/i.exec(m[1]!)?.[1]?.toLowerCase();
    if (!type || type.startsWith('multipart/')) continue;
    const enc = /content-transfer-encoding:\s*([\w-]+)/i.exec(m[1]!)?.[1]?.toLowerCase();
    const content = m[2]!.trim();
    parts[type] =
      enc === 'base64'
        ? Buffer.from(content.replace(/\s+/g, ''), 'base64').toString('utf8')
        : enc === 'quoted-printable'
          ? decodeQuotedPrintable(content)
          : content;
  }
  return { headers, parts };
}
