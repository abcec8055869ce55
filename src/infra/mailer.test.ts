import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { AppError } from '../lib/errors.ts';
import { classifySmtpError, createMailer, MailError, redactSmtpUrl } from './mailer.ts';

const message = { to: 'a@example.com', subject: 's', html: '<p>h</p>', text: 't' };

describe('SMTP failure classification', () => {
  it('4xx and 503 are transient, other 5xx permanent (RFC 5321)', () => {
    expect(classifySmtpError({ responseCode: 451, response: '451 try later' }).transient).toBe(
      true,
    );
    expect(classifySmtpError({ responseCode: 421 }).transient).toBe(true);
    expect(classifySmtpError({ responseCode: 503 }).transient).toBe(true);
    expect(classifySmtpError({ responseCode: 550, response: '550 no such user' })).toMatchObject({
      transient: false,
      smtpCode: 550,
      message: '550 no such user',
    });
    expect(classifySmtpError({ responseCode: 535 }).transient).toBe(false);
  });

  it('connection trouble is transient; anything unknown is permanent', () => {
    for (const code of ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS']) {
      expect(classifySmtpError({ code }).transient, code).toBe(true);
    }
    expect(classifySmtpError({ code: 'ESOCKET', originalCode: 'ECONNREFUSED' }).transient).toBe(
      true,
    );
    expect(classifySmtpError({ code: 'EENVELOPE' }).transient).toBe(false);
    expect(classifySmtpError(new Error('boom')).transient).toBe(false);
  });

  it('never shows credentials of the SMTP URL', () => {
    expect(redactSmtpUrl('smtps://user:s3cret@mail.example.com:465')).toBe(
      'smtps://mail.example.com:465',
    );
  });
});

describe('mailer', () => {
  it('without settings, every send fails with the variables to set', async () => {
    const mailer = createMailer({});
    expect(mailer.enabled).toBe(false);
    const err = await mailer.send(message).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('not_configured');
    expect((err as AppError).message).toContain('KEYPLANE_SMTP_URL');
    expect((err as AppError).message).toContain('KEYPLANE_MAIL_FROM');
    expect(createMailer({ smtpUrl: 'smtp://127.0.0.1:25' }).describe).toContain(
      'KEYPLANE_MAIL_FROM',
    );
  });

  it('a refused connection is a transient MailError', async () => {
    // A port that was free a moment ago: nothing listens there.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const mailer = createMailer({
      smtpUrl: `smtp://127.0.0.1:${port}`,
      mailFrom: 'x@example.com',
      timeoutMs: 2000,
    });
    const err = await mailer.send(message).catch((e: unknown) => e);
    await mailer.close();
    expect(err).toBeInstanceOf(MailError);
    expect((err as MailError).transient).toBe(true);
  });
});
