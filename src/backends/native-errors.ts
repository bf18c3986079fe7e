/** How every libcrypto backend file turns what the addon throws into BackendError. */
import { BackendError, isBackendErrorCode } from './backend';

/** Turn whatever the addon threw into a BackendError. */
export function toBackendError(err: unknown): BackendError {
  if (err instanceof BackendError) return err;
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return new BackendError(isBackendErrorCode(code) ? code : 'LIBRARY', err.message, { cause: err });
  }
  return new BackendError('LIBRARY', String(err));
}

/** Runs a synchronous addon call, mapping its errors. */
export function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toBackendError(err);
  }
}
