import { AppError } from './errors.ts';

/**
 * One of `allowed`, or a validation_failed error naming the field and the choices. A missing
 * value takes `fallback` when there is one.
 */
export function checkEnum<T extends string>(
  field: string,
  value: unknown,
  allowed: readonly T[],
  fallback?: T,
): T {
  const v = value ?? fallback;
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new AppError('validation_failed', `${field}: must be one of ${allowed.join(', ')}`, {
      context: { field },
    });
  }
  return v as T;
}
