/** A rate limit as keys and clients store it: `limit` calls per `windowSeconds`. */
export interface RateLimitSetting {
  limit: number;
  windowSeconds: number;
}
