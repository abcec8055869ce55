import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';

/**
 * One ioredis connection for commands. It reconnects by itself forever (with a capped backoff)
 * and fails commands fast while down (no offline queue), so callers can fall back locally
 * instead of hanging. Pub/sub needs its own connection: `duplicate()`.
 */
export function createRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 1000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let down = false;
  redis.on('error', (err) => {
    if (!down) logger.warn({ err: { message: err.message } }, 'redis unavailable');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info('redis is back');
    down = false;
  });
  return redis;
}

export type { Redis };
