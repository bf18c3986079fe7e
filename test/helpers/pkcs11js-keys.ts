/** pkcs11js test pieces several files share: a NULL output buffer, and a Node RSA key imported into the token. */
import type { KeyObject } from 'node:crypto';
import type * as pkcs11js from 'pkcs11js';
import { CKA, CKK, CKO } from '../../src/generated/constants';

/**
 * A zero-length Buffer reaches the module as a NULL output pointer (napi hands out no data
 * pointer for it). pkcs11js then returns out.subarray(0, *pulLen), so the length the module
 * reported is captured from that subarray call.
 */
export function nullOutput(): { buffer: Buffer; length: () => number | undefined } {
  let reported: number | undefined;
  const buffer = Buffer.alloc(0);
  buffer.subarray = ((_start?: number, end?: number) => {
    reported = end;
    return Buffer.alloc(0);
  }) as typeof buffer.subarray;
  return { buffer, length: () => reported };
}

const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64url');

/** A Node-made RSA key as session objects, both halves with every CRT part, plus extra attributes on each. */
export function importRsa(
  mod: pkcs11js.PKCS11,
  session: Buffer,
  key: KeyObject,
  publicExtra: pkcs11js.Template = [],
  privateExtra: pkcs11js.Template = [],
): { priv: Buffer; pub: Buffer } {
  const jwk = key.export({ format: 'jwk' });
  const common = [
    { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_RSA },
    { type: CKA.CKA_TOKEN, value: false },
    { type: CKA.CKA_MODULUS, value: b64(jwk.n) },
    { type: CKA.CKA_PUBLIC_EXPONENT, value: b64(jwk.e) },
  ];
  const pub = mod.C_CreateObject(session, [{ type: CKA.CKA_CLASS, value: CKO.CKO_PUBLIC_KEY }, ...common, ...publicExtra]);
  const priv = mod.C_CreateObject(session, [
    { type: CKA.CKA_CLASS, value: CKO.CKO_PRIVATE_KEY },
    ...common,
    { type: CKA.CKA_PRIVATE_EXPONENT, value: b64(jwk.d) },
    { type: CKA.CKA_PRIME_1, value: b64(jwk.p) },
    { type: CKA.CKA_PRIME_2, value: b64(jwk.q) },
    { type: CKA.CKA_EXPONENT_1, value: b64(jwk.dp) },
    { type: CKA.CKA_EXPONENT_2, value: b64(jwk.dq) },
    { type: CKA.CKA_COEFFICIENT, value: b64(jwk.qi) },
    ...privateExtra,
  ]);
  return { priv, pub };
}
