/** A value, or a promise of it when it had to wait (callers `await` either). */
export type MaybePromise<T> = T | Promise<T>;
