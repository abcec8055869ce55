import SQLite from 'better-sqlite3';
import { existsSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import pg from 'pg';
import { TEST_MASTER_KEY } from './support/harness.ts';
import { startKeyplane, tempDir, type ServeProcess } from './support/keyplane-process.ts';
import { createTestDatabase, ENGINES } from './support/stores.ts';
import { waitFor } from './support/wait.ts';

// Each test spawns keyplane a few times; on a busy machine that alone takes seconds.
vi.setConfig({ testTimeout: 120_000 });

/**
 * SIGTERM on the real server: stop accepting, finish what was accepted, flush, close the store,
 * exit 0 (the server's own deadline is 10 s and exits 1 when it passes, so exit 0 proves it).
 */
function tokenOf(p: ServeProcess): string {
  const m = /\n\s+(kpadm_live_[0-9A-Za-z]{49})\s*\n/.exec(p.stdout());
  if (!m) throw new Error('no bootstrap token');
  return m[1]!;
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * Sends a request's headers with `Expect: 100-continue` and resolves once the server answers
 * `100 Continue`: from then on the server has parsed the headers and the request is in flight
 * (accepted), with no guess at how long that takes on a loaded machine.
 */
async function startRequest(socket: Socket, head: string): Promise<void> {
  let seen = '';
  const interim = new Promise<void>((resolve, reject) => {
    const onData = (c: Buffer) => {
      seen += c.toString();
      if (!seen.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (/^HTTP\/1\.1 100 /.test(seen)) resolve();
      else reject(new Error(`expected 100 Continue, got ${JSON.stringify(seen)}`));
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  socket.write(`${head}Expect: 100-continue\r\n\r\n`);
  await interim;
}

/** The mid-body admin-token request both tests below hold open across SIGTERM. */
async function halfSentRequest(p: ServeProcess, name: string) {
  const body = JSON.stringify({ name });
  const half = Math.floor(body.length / 2);
  const socket = await open(portOf(p.url));
  await startRequest(
    socket,
    `POST /admin/v1/admin-tokens HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${tokenOf(p)}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`,
  );
  const response = readResponse(socket);
  socket.write(body.slice(0, half));
  return { socket, response, finish: () => socket.write(body.slice(half)) };
}

const stopping = (p: ServeProcess) => p.logs().some((l) => String(l.msg).startsWith('stopping'));

/** Reads a whole HTTP/1.1 response (Content-Length framed) from a socket. */
function readResponse(socket: Socket): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let data = '';
    const done = () => {
      const split = data.indexOf('\r\n\r\n');
      const len = /\r\ncontent-length: *(\d+)/i.exec(data);
      if (split >= 0 && len && data.length >= split + 4 + Number(len[1])) {
        socket.removeAllListeners('data');
        resolve({
          status: Number(data.split(' ')[1]),
          body: data.slice(split + 4, split + 4 + Number(len[1])),
        });
        return true;
      }
      return false;
    };
    socket.on('data', (c: Buffer) => {
      data += c.toString();
      done();
    });
    socket.once('close', () => {
      if (!done()) reject(new Error(`connection closed mid-response: ${JSON.stringify(data)}`));
    });
    socket.once('error', reject);
  });
}

describe('graceful stop of keyplane serve', () => {
  it.each(ENGINES)(
    '%s: finishes a request that was mid-body at SIGTERM, refuses new connections, exits 0',
    async (engine) => {
      const cwd = tempDir();
      const db = engine === 'postgres' ? await createTestDatabase('postgres') : null;
      const env = db ? { KEYPLANE_DATABASE_URL: db.url, KEYPLANE_MASTER_KEY: TEST_MASTER_KEY } : {};
      const p = await startKeyplane({ cwd, env });
      const port = portOf(p.url);
      const held = await halfSentRequest(p, 'created-during-shutdown');
      // The headers are in: this request has been accepted. Now stop the server.
      p.child.kill('SIGTERM');
      // Wait until the server says it is stopping, then check that it no longer accepts.
      await waitFor(() => stopping(p), 'the "stopping" log line');
      await expect(open(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
      expect(p.child.exitCode).toBeNull(); // still finishing the accepted request

      held.finish();
      const res = await held.response;
      expect(res.status).toBe(201);
      expect(JSON.parse(res.body)).toMatchObject({
        adminToken: { name: 'created-during-shutdown' },
      });

      const { code, signal } = await p.exited;
      expect(signal).toBeNull();
      expect(code).toBe(0);
      expect(p.logs().some((l) => l.msg === 'stopped')).toBe(true);
      if (db) {
        // The row is in PostgreSQL, and the node left no connection behind.
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        const rows = await c.query(
          "select (select count(*) from admin_tokens where name = 'created-during-shutdown') as made, (select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()) as others",
        );
        await c.end();
        expect(rows.rows[0]).toEqual({ made: '1', others: '0' });
        await db.drop();
      } else {
        // The store was closed properly: SQLite checkpointed and removed its write-ahead log.
        expect(existsSync(join(cwd, 'data', 'keyplane.db'))).toBe(true);
        expect(existsSync(join(cwd, 'data', 'keyplane.db-wal'))).toBe(false);
      }
    },
  );

  it('answers every accepted request of a concurrent batch in full', async () => {
    const cwd = tempDir();
    const p = await startKeyplane({ cwd });
    const token = tokenOf(p);
    const N = 60;
    let firstDone!: () => void;
    const first = new Promise<void>((r) => (firstDone = r));
    const results = Array.from({ length: N }, async (_, i) => {
      try {
        const res = await fetch(`${p.url}/admin/v1/admin-tokens`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name: `batch-${i}` }),
        });
        const text = await res.text(); // throws if the body is cut short
        firstDone();
        return { status: res.status, body: text };
      } catch (err) {
        firstDone();
        const cause = (err as { cause?: { code?: string } }).cause;
        return { error: cause?.code ?? String(err) };
      }
    });
    await first;
    p.child.kill('SIGTERM');
    const settled = await Promise.all(results);
    const { code } = await p.exited;
    expect(code).toBe(0);

    const answered = settled.filter((r) => 'status' in r) as Array<{
      status: number;
      body: string;
    }>;
    const refused = settled.filter((r) => 'error' in r) as Array<{ error: string }>;
    expect(answered.length + refused.length).toBe(N);
    expect(answered.length).toBeGreaterThan(0);
    for (const r of answered) {
      // Accepted before the stop: a full 201. Arriving on a kept-alive socket during the stop:
      // a full 503 in the envelope. Never a truncated answer.
      expect([201, 503]).toContain(r.status);
      const json = JSON.parse(r.body);
      if (r.status === 201) expect(json.token).toMatch(/^kpadm_live_/);
      else expect(json.error.code).toBe('service_unavailable');
    }
    // Anything not answered never reached the server: refused at connect time, or sent on a
    // kept-alive socket in the instant the server closed it as idle (the HTTP/1.1 keep-alive
    // race every server has; load balancers drain before SIGTERM for it).
    for (const r of refused)
      expect(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET']).toContain(r.error);
    // What was answered 201 is stored, and nothing else: no accepted request went unanswered,
    // none was half done.
    const db = new SQLite(join(cwd, 'data', 'keyplane.db'), { readonly: true });
    const stored = db
      .prepare("select count(*) as n from admin_tokens where name like 'batch-%'")
      .get() as { n: number };
    db.close();
    expect(stored.n).toBe(answered.filter((r) => r.status === 201).length);
  });

  it('exits 1 when the graceful stop outlasts shutdownTimeoutMs', async () => {
    const cwd = tempDir();
    // A short deadline from the config file stands in for the default 10 s; the request held
    // mid-body below keeps the stop from ever finishing, so only the deadline can end it.
    writeFileSync(join(cwd, 'keyplane.config.json'), JSON.stringify({ shutdownTimeoutMs: 300 }));
    // The binary a user starts (tsx over the sources) gets the signal itself here.
    const p = await startKeyplane({ cwd, realBinary: true });
    const held = await halfSentRequest(p, 'never-finished');
    // The held request never gets an answer: the process dies under it, by design.
    const unanswered = held.response.then(
      () => 'answered',
      () => 'closed',
    );
    p.child.kill('SIGTERM');
    const { code, signal } = await p.exited;
    expect(signal).toBeNull();
    expect(code).toBe(1);
    expect(p.logs().map((l) => l.msg)).toContain('graceful stop took too long; exiting');
    expect(p.logs().some((l) => l.msg === 'stopped')).toBe(false);
    expect(await unanswered).toBe('closed');
    held.socket.destroy();
  });
});
