/** ECDH key derivation through pkcs11js: CKD_NULL and the X9.63 SHA-256 KDF against Node's ECDH and hashes. */
import { createECDH, createHash } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CKA, CKD, CKK, CKM, CKO } from '../../src/generated/constants';
import { openUserSession, type UserSession } from '../helpers/pkcs11js-session';

const P256 = Buffer.from('06082a8648ce3d030107', 'hex');

/** ANSI X9.63 KDF, written out here as the independent reference. */
function x963(z: Buffer, sharedInfo: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 1; Buffer.concat(out).length < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    out.push(createHash('sha256').update(Buffer.concat([z, c, sharedInfo])).digest());
  }
  return Buffer.concat(out).subarray(0, length);
}

describe('ECDH1 derive (pkcs11js, process transport)', () => {
  let user: UserSession;
  let mod: pkcs11js.PKCS11;
  let s: Buffer;
  let ours: { publicKey: Buffer; privateKey: Buffer };
  let ourPoint: Buffer;

  beforeAll(() => {
    user = openUserSession('ecdh');
    ({ mod, session: s } = user);
    ours = mod.C_GenerateKeyPair(s, { mechanism: CKM.CKM_EC_KEY_PAIR_GEN }, [{ type: CKA.CKA_EC_PARAMS, value: P256 }], [{ type: CKA.CKA_DERIVE, value: true }]);
    const der = mod.C_GetAttributeValue(s, ours.publicKey, [{ type: CKA.CKA_EC_POINT }])[0]?.value as Buffer;
    ourPoint = der.subarray(2); // DER OCTET STRING header of a 65-byte point
  });
  afterAll(() => user.close());

  const derive = (kdf: number, peer: Buffer, length: number, sharedData?: Buffer) => {
    const parameter: pkcs11js.ECDH1 = { type: pkcs11js.CK_PARAMS_EC_DH, kdf, publicData: peer };
    if (sharedData) parameter.sharedData = sharedData;
    const key = mod.C_DeriveKey(s, { mechanism: CKM.CKM_ECDH1_DERIVE, parameter }, ours.privateKey, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
      { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_GENERIC_SECRET },
      { type: CKA.CKA_VALUE_LEN, value: length },
      { type: CKA.CKA_SENSITIVE, value: false },
      { type: CKA.CKA_EXTRACTABLE, value: true },
    ]);
    return mod.C_GetAttributeValue(s, key, [{ type: CKA.CKA_VALUE }])[0]?.value as Buffer;
  };

  it('CKD_NULL gives the shared secret Node computes', () => {
    const node = createECDH('prime256v1');
    node.generateKeys();
    expect(derive(CKD.CKD_NULL, node.getPublicKey(), 32)).toEqual(node.computeSecret(ourPoint));
    // A DER-wrapped peer point is accepted too.
    const wrapped = Buffer.concat([Buffer.from([0x04, 65]), node.getPublicKey()]);
    expect(derive(CKD.CKD_NULL, wrapped, 32)).toEqual(node.computeSecret(ourPoint));
  });

  it('CKD_SHA256_KDF applies X9.63 with the shared data', () => {
    const node = createECDH('prime256v1');
    node.generateKeys();
    const info = Buffer.from('craton shared info');
    expect(derive(CKD.CKD_SHA256_KDF, node.getPublicKey(), 48, info)).toEqual(x963(node.computeSecret(ourPoint), info, 48));
  });
});
