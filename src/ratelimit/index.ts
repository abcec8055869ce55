/**
 * The rate-limit module's public surface: the service that plugs into key verification as its
 * gate (sliding windows in memory or Redis). Other modules import from here, never from the
 * module's files.
 */
export { createRateLimitService, type RateLimitService } from './ratelimit-service.ts';
