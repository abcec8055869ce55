import nodemailer from 'nodemailer';
import { AppError } from '../lib/errors.ts';

/**
 * Outgoing email: SMTP through nodemailer when KEYPLANE_SMTP_URL and KEYPLANE_MAIL_FROM are
 * set, otherwise a disabled mailer whose every send fails with a message naming what to set
 * (STYLE: optional infrastructure has an interface and a local implementation).
 */
export interface MailMessage {
  to: string;
  subject: string;
  html: string;
  text: string;
}

export interface Mailer {
  readonly enabled: boolean;
  /** smtp://host:port without credentials, or why mail is off; safe to log. */
  readonly describe: string;
  send(message: MailMessage): Promise<{ messageId: string }>;
  close(): Promise<void>;
}

/** A failed delivery: `transient` failures (4xx replies, connection trouble) are worth retrying. */
export class MailError extends Error {
  readonly transient: boolean;
  readonly smtpCode: number | null;
  constructor(message: string, transient: boolean, smtpCode: number | null, cause?: unknown) {
    super(message, { cause });
    this.name = 'MailError';
    this.transient = transient;
    this.smtpCode = smtpCode;
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNECTION',
  'ESOCKET',
  'ETIMEDOUT',
  'EDNS',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPROTOCOL',
]);

interface SmtpErrorShape {
  code?: string;
  originalCode?: string;
  responseCode?: number;
  permanent?: boolean;
  response?: string;
  message?: string;
}

/** RFC 5321: 4yz (and 503) may pass later, 5yz will not; no reply at all = connection trouble. */
export function classifySmtpError(err: unknown): MailError {
  const e = (err ?? {}) as SmtpErrorShape;
  const smtpCode = typeof e.responseCode === 'number' ? e.responseCode : null;
  let transient: boolean;
  if (smtpCode !== null)
    transient = e.permanent === undefined ? smtpCode < 500 || smtpCode === 503 : !e.permanent;
  else transient = TRANSIENT_CODES.has(e.code ?? '') || TRANSIENT_CODES.has(e.originalCode ?? '');
  // The server's reply says what went wrong; it never holds our credentials.
  const text = (e.response ?? e.message ?? 'mail delivery failed').split('\n')[0]!.slice(0, 500);
  return new MailError(text, transient, smtpCode, err);
}

export function redactSmtpUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}`;
  } catch {
    return 'smtp://(unparseable)';
  }
}

export interface MailerOptions {
  smtpUrl?: string;
  mailFrom?: string;
  /** Parallel SMTP connections (default 3). */
  maxConnections?: number;
  timeoutMs?: number;
}

export function createMailer(options: MailerOptions): Mailer {
  const missing = [
    !options.smtpUrl && 'KEYPLANE_SMTP_URL (smtp://user:pass@host:587 or smtps://…)',
    !options.mailFrom && 'KEYPLANE_MAIL_FROM (e.g. "Billing <billing@example.com>")',
  ].filter(Boolean);
  if (missing.length) {
    const why = `email is not configured: set ${missing.join(' and ')}`;
    return {
      enabled: false,
      describe: why,
      async send() {
        throw new AppError('not_configured', why);
      },
      async close() {},
    };
  }
  const timeout = options.timeoutMs ?? 15_000;
  const transport = nodemailer.createTransport(
    {
      pool: true,
      url: options.smtpUrl!,
      maxConnections: options.maxConnections ?? 3,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout * 2,
    },
    { from: options.mailFrom! },
  );
  return {
    enabled: true,
    describe: redactSmtpUrl(options.smtpUrl!),
    async send(message) {
      try {
        const info = await transport.sendMail({
          to: message.to,
          subject: message.subject,
          html: message.html,
          text: message.text,
        });
        const rejected = (info.rejected ?? []) as unknown[];
        if (rejected.length) {
          throw Object.assign(new Error(`recipient rejected: ${message.to}`), {
            responseCode: 550,
          });
        }
        return { messageId: String(info.messageId ?? '') };
      } catch (err) {
        throw err instanceof MailError ? err : classifySmtpError(err);
      }
    },
    async close() {
      transport.close();
    },
  };
}
