import { describe, expect, it } from 'vitest';
import { isEmailAddress } from './email.ts';

describe('isEmailAddress', () => {
  it('takes plain addresses', () => {
    for (const a of ['jane@example.com', 'j.doe+invoices@mail.example.co.uk', 'x@y.z']) {
      expect(isEmailAddress(a), a).toBe(true);
    }
  });
  it('refuses what could name a second recipient, a display name, or nothing', () => {
    for (const a of [
      'jane@example.com;',
      'jane@example.com,eve@evil.example',
      '"jane"@example.com',
      'Jane <jane@example.com>',
      'a<b@example.com',
      'jane@example.com\r\nBcc: eve@evil.example',
      'jane@localhost',
      'jane@@example.com',
      '@example.com',
      '',
      `${'a'.repeat(310)}@example.com`,
    ]) {
      expect(isEmailAddress(a), a).toBe(false);
    }
  });
});
