import { describe, expect, it } from 'vitest';
import { createLogger, lazyChildLogger } from '../src/infra/logger.ts';
import { logCapture } from './support/harness.ts';

describe('lazy child logger', () => {
  it('writes with its bindings when used, and redacts like its parent', () => {
    const logs = logCapture();
    const logger = createLogger({ destination: logs.stream });
    const child = lazyChildLogger(logger, { requestId: 'req_1' });
    expect(logs.lines).toHaveLength(0);
    child.info({ credentials: { apiKey: 'sk-secret-value' } }, 'hello');
    child.child({ extra: 1 }).warn('nested');
    const lines = logs.lines.map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ requestId: 'req_1', msg: 'hello', credentials: '[redacted]' });
    expect(lines[1]).toMatchObject({ requestId: 'req_1', extra: 1, msg: 'nested' });
    expect(logs.text()).not.toContain('sk-secret-value');
    expect(child.isLevelEnabled('debug')).toBe(false);
  });
});
