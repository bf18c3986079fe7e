/**
 * Through pkcs11js (in-process, process transport): RSA signatures with message
 * recovery (C_SignRecover, C_VerifyRecover) against Node's privateEncrypt /
 * publicDecrypt, and the dual-function updates (C_DigestEncryptUpdate,
 * C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate) against
 * Node's ciphers, digests and HMACs.
 */
import { constants, createCipheriv, createHash, createHmac, generateKeyPairSync, privateEncrypt, publicDecrypt, randomBytes, type KeyObject } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest';
import { CKA, CKF_MECH, CKK, CKM, CKO, CKR } from '../../src/generated/constants';
import { MODULE_PATH, SO_PIN, USER_PIN, sandbox, type Sandbox } from '../helpers/module';
import { ckrOf } from '../helpers/pkcs11js-errors';
import { importRsa as importNodeRsa, nullOutput } from '../helpers/pkcs11js-keys';
import { applyProcessEnv, paddedLabel } from '../helpers/process-env';

const RW = pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION;
const b64 = (s: string) => Buffer.from(s, 'base64url');

describe('signatures with recovery and dual-function updates (pkcs11js, process transport)', () => {
  const mod = new pkcs11js.PKCS11();
  let box: Sandbox;
  let restoreEnv: () => void;
  let slot: Buffer;
  let s: Buffer;
  let nodeKey: KeyObject;
  let rsaPrivate: Buffer;
  let rsaPublic: Buffer;
  const K = 256;

  const importRsa = (publicExtra: pkcs11js.Template = [], privateExtra: pkcs11js.Template = []) => importNodeRsa(mod, s, nodeKey, publicExtra, privateExtra);

  function secretKey(keyType: number, value: Buffer): Buffer {
    return mod.C_CreateObject(s, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
      { type: CKA.CKA_KEY_TYPE, value: keyType },
      { type: CKA.CKA_TOKEN, value: false },
      { type: CKA.CKA_VALUE, value },
    ]);
  }

  const signRecover = (mechanism: number, key: Buffer, data: Buffer) => {
    mod.C_SignRecoverInit(s, { mechanism }, key);
    return Buffer.from(mod.C_SignRecover(s, data, Buffer.alloc(K)));
  };
  const verifyRecover = (mechanism: number, key: Buffer, signature: Buffer) => {
    mod.C_VerifyRecoverInit(s, { mechanism }, key);
    return Buffer.from(mod.C_VerifyRecover(s, signature, Buffer.alloc(K)));
  };

  beforeAll(() => {
    box = sandbox('process');
    restoreEnv = applyProcessEnv(box.env);
    mod.load(MODULE_PATH);
    mod.C_Initialize();
    slot = mod.C_GetSlotList(true)[0] as Buffer;
    mod.C_InitToken(slot, SO_PIN, paddedLabel('recover'));
    const so = mod.C_OpenSession(slot, RW);
    mod.C_Login(so, pkcs11js.CKU_SO, SO_PIN);
    mod.C_InitPIN(so, USER_PIN);
    mod.C_Logout(so);
    // This session stays open (and the user logged in) for the whole file.
    mod.C_Login(so, pkcs11js.CKU_USER, USER_PIN);
    nodeKey = generateKeyPairSync('rsa', { modulusLength: 8 * K }).privateKey;
  });
  afterAll(() => {
    mod.C_Finalize();
    mod.close();
    restoreEnv();
    box.cleanup();
  });
  beforeEach(() => {
    s = mod.C_OpenSession(slot, RW);
    ({ priv: rsaPrivate, pub: rsaPublic } = importRsa());
  });
  afterEach(() => {
    mod.C_CloseSession(s);
  });

  describe('C_SignRecover / C_VerifyRecover', () => {
    it('CKM_RSA_PKCS and CKM_RSA_X_509 say they recover', () => {
      for (const m of [CKM.CKM_RSA_PKCS, CKM.CKM_RSA_X_509]) {
        const flags = mod.C_GetMechanismInfo(slot, m).flags;
        expect(flags & (CKF_MECH.CKF_SIGN_RECOVER | CKF_MECH.CKF_VERIFY_RECOVER)).toBe(CKF_MECH.CKF_SIGN_RECOVER | CKF_MECH.CKF_VERIFY_RECOVER);
      }
      expect(mod.C_GetMechanismInfo(slot, CKM.CKM_SHA256_RSA_PKCS).flags & CKF_MECH.CKF_SIGN_RECOVER).toBe(0);
    });

    it('CKM_RSA_PKCS: a PKCS #1 v1.5 type-1 signature over the raw data, as Node makes it, and back', () => {
      for (const data of [randomBytes(1), randomBytes(100), randomBytes(K - 11)]) {
        const signature = signRecover(CKM.CKM_RSA_PKCS, rsaPrivate, data);
        expect(signature).toEqual(privateEncrypt({ key: nodeKey, padding: constants.RSA_PKCS1_PADDING }, data));
        expect(publicDecrypt({ key: nodeKey, padding: constants.RSA_PKCS1_PADDING }, signature)).toEqual(data);
        expect(verifyRecover(CKM.CKM_RSA_PKCS, rsaPublic, signature)).toEqual(data);
      }
      expect(ckrOf(() => signRecover(CKM.CKM_RSA_PKCS, rsaPrivate, randomBytes(K - 10)))).toBe(CKR.CKR_DATA_LEN_RANGE);
    });

    it('CKM_RSA_X_509: raw RSA, the data left-padded to the modulus length, recovered as k bytes', () => {
      const data = randomBytes(40);
      const block = Buffer.concat([Buffer.alloc(K - data.length), data]);
      const signature = signRecover(CKM.CKM_RSA_X_509, rsaPrivate, data);
      expect(signature).toEqual(privateEncrypt({ key: nodeKey, padding: constants.RSA_NO_PADDING }, block));
      expect(verifyRecover(CKM.CKM_RSA_X_509, rsaPublic, signature)).toEqual(block);
      const fromNode = privateEncrypt({ key: nodeKey, padding: constants.RSA_NO_PADDING }, block);
      expect(verifyRecover(CKM.CKM_RSA_X_509, rsaPublic, fromNode)).toEqual(publicDecrypt({ key: nodeKey, padding: constants.RSA_NO_PADDING }, fromNode));
    });

    it('an invalid signature is CKR_SIGNATURE_INVALID, one of the wrong length CKR_SIGNATURE_LEN_RANGE, before any buffer check', () => {
      const signature = privateEncrypt({ key: nodeKey, padding: constants.RSA_PKCS1_PADDING }, randomBytes(32));
      const forged = Buffer.from(signature);
      forged[K - 1] = (forged[K - 1] ?? 0) ^ 1;
      mod.C_VerifyRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPublic);
      expect(ckrOf(() => mod.C_VerifyRecover(s, forged, Buffer.alloc(1)))).toBe(CKR.CKR_SIGNATURE_INVALID);
      // That ended the operation.
      expect(ckrOf(() => mod.C_VerifyRecover(s, signature, Buffer.alloc(K)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
      mod.C_VerifyRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPublic);
      expect(ckrOf(() => mod.C_VerifyRecover(s, signature.subarray(1), Buffer.alloc(K)))).toBe(CKR.CKR_SIGNATURE_LEN_RANGE);
      // Raw RSA: a value not below the modulus.
      mod.C_VerifyRecoverInit(s, { mechanism: CKM.CKM_RSA_X_509 }, rsaPublic);
      expect(ckrOf(() => mod.C_VerifyRecover(s, Buffer.alloc(K, 0xff), Buffer.alloc(K)))).toBe(CKR.CKR_SIGNATURE_INVALID);
    });

    it('length queries and too small buffers keep the operation (section 5.2)', () => {
      const data = randomBytes(20);
      mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPrivate);
      const query = nullOutput();
      mod.C_SignRecover(s, data, query.buffer);
      expect(query.length()).toBe(K);
      expect(ckrOf(() => mod.C_SignRecover(s, data, Buffer.alloc(K - 1)))).toBe(CKR.CKR_BUFFER_TOO_SMALL);
      const signature = Buffer.from(mod.C_SignRecover(s, data, Buffer.alloc(K)));
      expect(ckrOf(() => mod.C_SignRecover(s, data, Buffer.alloc(K)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);

      mod.C_VerifyRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPublic);
      const recovered = nullOutput();
      mod.C_VerifyRecover(s, signature, recovered.buffer);
      expect(recovered.length()).toBe(data.length);
      expect(ckrOf(() => mod.C_VerifyRecover(s, signature, Buffer.alloc(data.length - 1)))).toBe(CKR.CKR_BUFFER_TOO_SMALL);
      expect(Buffer.from(mod.C_VerifyRecover(s, signature, Buffer.alloc(data.length)))).toEqual(data);
    });

    it('checks the key, the mechanism and the operation state', () => {
      expect(ckrOf(() => mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_SHA256_RSA_PKCS }, rsaPrivate))).toBe(CKR.CKR_MECHANISM_INVALID);
      expect(ckrOf(() => mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS_PSS }, rsaPrivate))).toBe(CKR.CKR_MECHANISM_INVALID);
      expect(ckrOf(() => mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS, parameter: Buffer.alloc(8) }, rsaPrivate))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      expect(ckrOf(() => mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPublic))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
      expect(ckrOf(() => mod.C_VerifyRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPrivate))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
      const noRecover = importRsa([{ type: CKA.CKA_VERIFY_RECOVER, value: false }], [{ type: CKA.CKA_SIGN_RECOVER, value: false }]);
      expect(ckrOf(() => mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, noRecover.priv))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
      expect(ckrOf(() => mod.C_VerifyRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, noRecover.pub))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
      mod.C_SignInit(s, { mechanism: CKM.CKM_SHA256_RSA_PKCS }, noRecover.priv);
      mod.C_SignFinal(s, Buffer.alloc(K));

      expect(ckrOf(() => mod.C_SignRecover(s, randomBytes(8), Buffer.alloc(K)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
      mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPrivate);
      expect(ckrOf(() => mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPrivate))).toBe(CKR.CKR_OPERATION_ACTIVE);
      // Signing with and without recovery share the session's signing slot.
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPrivate))).toBe(CKR.CKR_OPERATION_ACTIVE);
      expect(ckrOf(() => mod.C_Sign(s, randomBytes(8), Buffer.alloc(K)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
      mod.C_SignRecover(s, randomBytes(8), Buffer.alloc(K));
      mod.C_VerifyInit(s, { mechanism: CKM.CKM_RSA_PKCS }, rsaPublic);
      expect(ckrOf(() => mod.C_VerifyRecover(s, Buffer.alloc(K), Buffer.alloc(K)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
    });

    it('a CKA_ALWAYS_AUTHENTICATE key signs only after C_Login(CKU_CONTEXT_SPECIFIC)', () => {
      const jwk = nodeKey.export({ format: 'jwk' });
      const priv = mod.C_CreateObject(s, [
        { type: CKA.CKA_CLASS, value: CKO.CKO_PRIVATE_KEY },
        { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_RSA },
        { type: CKA.CKA_TOKEN, value: false },
        { type: CKA.CKA_PRIVATE, value: true },
        { type: CKA.CKA_ALWAYS_AUTHENTICATE, value: true },
        { type: CKA.CKA_MODULUS, value: b64(jwk.n as string) },
        { type: CKA.CKA_PUBLIC_EXPONENT, value: b64(jwk.e as string) },
        { type: CKA.CKA_PRIVATE_EXPONENT, value: b64(jwk.d as string) },
      ]);
      const data = randomBytes(16);
      mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, priv);
      expect(ckrOf(() => mod.C_SignRecover(s, data, Buffer.alloc(K)))).toBe(CKR.CKR_USER_NOT_LOGGED_IN);
      mod.C_SignRecoverInit(s, { mechanism: CKM.CKM_RSA_PKCS }, priv);
      mod.C_Login(s, pkcs11js.CKU_CONTEXT_SPECIFIC, USER_PIN);
      expect(Buffer.from(mod.C_SignRecover(s, data, Buffer.alloc(K)))).toEqual(privateEncrypt({ key: nodeKey, padding: constants.RSA_PKCS1_PADDING }, data));
    });
  });

  describe('dual-function updates', () => {
    const aesKey = randomBytes(32);
    const macKey = randomBytes(32);
    const iv = randomBytes(16);
    const data = randomBytes(96);
    const parts = [data.subarray(0, 32), data.subarray(32, 48), data.subarray(48)];
    const cbc = { mechanism: CKM.CKM_AES_CBC, parameter: iv };
    const nodeCbc = () => {
      const c = createCipheriv('aes-256-cbc', aesKey, iv);
      c.setAutoPadding(false);
      return Buffer.concat([c.update(data), c.final()]);
    };
    const sha256 = { mechanism: CKM.CKM_SHA256 };
    const hmac = { mechanism: CKM.CKM_SHA256_HMAC };

    it('C_DigestEncryptUpdate digests the plaintext and encrypts it, like Node', () => {
      const key = secretKey(CKK.CKK_AES, aesKey);
      mod.C_EncryptInit(s, cbc, key);
      mod.C_DigestInit(s, sha256);
      const out = parts.map((p) => Buffer.from(mod.C_DigestEncryptUpdate(s, p, Buffer.alloc(p.length))));
      out.push(Buffer.from(mod.C_EncryptFinal(s, Buffer.alloc(16))));
      expect(Buffer.concat(out)).toEqual(nodeCbc());
      expect(Buffer.from(mod.C_DigestFinal(s, Buffer.alloc(32)))).toEqual(createHash('sha256').update(data).digest());
    });

    it('C_DecryptDigestUpdate decrypts and digests the plaintext it releases', () => {
      const key = secretKey(CKK.CKK_AES, aesKey);
      const ciphertext = nodeCbc();
      mod.C_DecryptInit(s, cbc, key);
      mod.C_DigestInit(s, sha256);
      // 40 bytes release 32: the rest waits for its block.
      const out = [ciphertext.subarray(0, 40), ciphertext.subarray(40)].map((p) => Buffer.from(mod.C_DecryptDigestUpdate(s, p, Buffer.alloc(p.length + 16))));
      expect(out.map((o) => o.length)).toEqual([32, 64]);
      out.push(Buffer.from(mod.C_DecryptFinal(s, Buffer.alloc(16))));
      expect(Buffer.concat(out)).toEqual(data);
      expect(Buffer.from(mod.C_DigestFinal(s, Buffer.alloc(32)))).toEqual(createHash('sha256').update(data).digest());
    });

    it('C_SignEncryptUpdate MACs the plaintext and encrypts it; C_DecryptVerifyUpdate undoes both', () => {
      const key = secretKey(CKK.CKK_AES, aesKey);
      const mk = secretKey(CKK.CKK_GENERIC_SECRET, macKey);
      mod.C_EncryptInit(s, cbc, key);
      mod.C_SignInit(s, hmac, mk);
      const ciphertext = Buffer.concat(parts.map((p) => Buffer.from(mod.C_SignEncryptUpdate(s, p, Buffer.alloc(p.length)))));
      mod.C_EncryptFinal(s, Buffer.alloc(16));
      const mac = Buffer.from(mod.C_SignFinal(s, Buffer.alloc(32)));
      expect(ciphertext).toEqual(nodeCbc());
      expect(mac).toEqual(createHmac('sha256', macKey).update(data).digest());

      mod.C_DecryptInit(s, cbc, key);
      mod.C_VerifyInit(s, hmac, mk);
      const plain = Buffer.from(mod.C_DecryptVerifyUpdate(s, ciphertext, Buffer.alloc(ciphertext.length)));
      mod.C_DecryptFinal(s, Buffer.alloc(16));
      expect(plain).toEqual(data);
      expect(mod.C_VerifyFinal(s, mac)).toBe(true);
    });

    it('a length query or too small a buffer feeds nothing to the digest and keeps both operations', () => {
      const key = secretKey(CKK.CKK_AES, aesKey);
      mod.C_EncryptInit(s, cbc, key);
      mod.C_DigestInit(s, sha256);
      const query = nullOutput();
      mod.C_DigestEncryptUpdate(s, data, query.buffer);
      expect(query.length()).toBe(data.length);
      expect(ckrOf(() => mod.C_DigestEncryptUpdate(s, data, Buffer.alloc(data.length - 16)))).toBe(CKR.CKR_BUFFER_TOO_SMALL);
      expect(Buffer.from(mod.C_DigestEncryptUpdate(s, data, Buffer.alloc(data.length)))).toEqual(nodeCbc());
      mod.C_EncryptFinal(s, Buffer.alloc(16));
      expect(Buffer.from(mod.C_DigestFinal(s, Buffer.alloc(32)))).toEqual(createHash('sha256').update(data).digest());
    });

    it('both operations must be active; one missing leaves the other alone', () => {
      const key = secretKey(CKK.CKK_AES, aesKey);
      mod.C_DigestInit(s, sha256);
      expect(ckrOf(() => mod.C_DigestEncryptUpdate(s, data, Buffer.alloc(data.length)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
      expect(ckrOf(() => mod.C_SignEncryptUpdate(s, data, Buffer.alloc(data.length)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
      mod.C_DigestUpdate(s, data);
      expect(Buffer.from(mod.C_DigestFinal(s, Buffer.alloc(32)))).toEqual(createHash('sha256').update(data).digest());
      mod.C_DecryptInit(s, cbc, key);
      expect(ckrOf(() => mod.C_DecryptDigestUpdate(s, nodeCbc(), Buffer.alloc(data.length)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
      expect(ckrOf(() => mod.C_DecryptVerifyUpdate(s, nodeCbc(), Buffer.alloc(data.length)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
      expect(Buffer.from(mod.C_Decrypt(s, nodeCbc(), Buffer.alloc(data.length)))).toEqual(data);
    });

    it('a failure ends both operations', () => {
      const key = secretKey(CKK.CKK_AES, aesKey);
      // A CTR counter of 1 bit allows two blocks: three are CKR_DATA_LEN_RANGE.
      const ctr = { mechanism: CKM.CKM_AES_CTR, parameter: Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), Buffer.alloc(16)]) };
      mod.C_EncryptInit(s, ctr, key);
      mod.C_DigestInit(s, sha256);
      expect(ckrOf(() => mod.C_DigestEncryptUpdate(s, randomBytes(48), Buffer.alloc(48)))).toBe(CKR.CKR_DATA_LEN_RANGE);
      expect(ckrOf(() => mod.C_DigestFinal(s, Buffer.alloc(32)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
      expect(ckrOf(() => mod.C_EncryptFinal(s, Buffer.alloc(16)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
    });
  });
});
