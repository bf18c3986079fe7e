/** How a pkcs11js call failed, as a CK_RV. */
import * as pkcs11js from 'pkcs11js';

/**
 * Runs fn and returns the CK_RV it fails with (fails the test if it succeeds). pkcs11js throws
 * Pkcs11Error with .code, except from C_CreateObject/C_CopyObject/C_SetAttributeValue, which its
 * JS subclass overrides without the wrapper, so those throw a plain Error "CKR_NAME:code".
 */
export function ckrOf(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof pkcs11js.Pkcs11Error) return e.code;
    const m = e instanceof Error ? /^(CKR_[A-Z0-9_]+):(\d+)$/.exec(e.message) : null;
    if (m) return Number(m[2]);
    throw e;
  }
  throw new Error('expected a Pkcs11Error, but the call succeeded');
}
