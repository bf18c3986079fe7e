/**
 * The AES and HMAC mechanism families through pkcs11js, in-process (process transport):
 * C_GenerateKey, every AES mode and MAC against Node's crypto or published vectors, the
 * length/buffer conventions of PKCS#11 3.0 section 5.2, and the key checks at C_*Init.
 *
 * One token is initialised for the whole file; every test works in its own session and
 * creates session objects only, which vanish when the session closes.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, type CipherCCMTypes, type CipherGCMTypes } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CKA, CKK, CKM, CKO, CKR } from '../../src/generated/constants';
import { MODULE_PATH, SO_PIN, USER_PIN, sandbox, type Sandbox } from '../helpers/module';
import { ckrOf } from '../helpers/pkcs11js-errors';
import { nullOutput } from '../helpers/pkcs11js-keys';
import { applyProcessEnv, paddedLabel } from '../helpers/process-env';

const RW = pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION;


const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** CK_ULONGs as the C ABI lays them out here (LP64, little-endian): raw parameters and CKA_ALLOWED_MECHANISMS. */
function ulongs(...values: number[]): Buffer {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 * i));
  return b;
}
const ulongOf = (b: Buffer): number => Number(b.readBigUInt64LE());
const boolOf = (b: Buffer): boolean => {
  expect(b).toHaveLength(1);
  return b[0] !== 0;
};

/** CK_AES_CTR_PARAMS { CK_ULONG ulCounterBits; CK_BYTE cb[16]; } passed as raw bytes (pkcs11js has no builder for it). */
const ctrParam = (counterBits: number, cb: Buffer): Buffer => Buffer.concat([ulongs(counterBits), cb]);

/** CK_GCM_PARAMS (3.0 layout, with ulIvBits) through pkcs11js's CK_PARAMS_GCM builder. */
function gcm(iv: Buffer, aad: Buffer | undefined, tagBits: number): pkcs11js.Mechanism {
  const parameter: pkcs11js.GcmParams = { type: pkcs11js.CK_PARAMS_GCM, iv, ivBits: iv.length * 8, tagBits };
  if (aad) parameter.aad = aad;
  return { mechanism: CKM.CKM_AES_GCM, parameter };
}

/**
 * CK_CCM_PARAMS through pkcs11js's CK_PARAMS_AES_CCM builder (same C layout). Not CK_PARAMS_CCM:
 * pkcs11js 2.1.7 types it as { dataLen, macLen } but its native reader wants { dataLength,
 * macLength }, and on that mismatch it frees uninitialised pointers ("free(): invalid pointer",
 * the worker dies). The CK_PARAMS_AES_CCM reader takes these names and is untyped, hence the cast.
 */
function ccm(dataLength: number, nonce: Buffer, aad: Buffer | undefined, macLength: number): pkcs11js.Mechanism {
  const parameter: Record<string, unknown> = { type: pkcs11js.CK_PARAMS_AES_CCM, dataLength, nonce, macLength };
  if (aad) parameter.aad = aad;
  return { mechanism: CKM.CKM_AES_CCM, parameter: parameter as unknown as pkcs11js.IParams };
}

const aesName = (key: Buffer, mode: string): string => `aes-${key.length * 8}-${mode}`;

function nodeEncrypt(mode: 'ecb' | 'cbc' | 'ctr', key: Buffer, iv: Buffer | null, data: Buffer, pad = false): Buffer {
  const c = createCipheriv(aesName(key, mode), key, iv);
  c.setAutoPadding(pad);
  return Buffer.concat([c.update(data), c.final()]);
}

function nodeGcm(key: Buffer, iv: Buffer, aad: Buffer, data: Buffer, tagBytes: number): Buffer {
  const c = createCipheriv(aesName(key, 'gcm') as CipherGCMTypes, key, iv, { authTagLength: tagBytes });
  c.setAAD(aad);
  return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
}

function nodeGcmDecrypt(key: Buffer, iv: Buffer, aad: Buffer, ctTag: Buffer, tagBytes: number): Buffer {
  const d = createDecipheriv(aesName(key, 'gcm') as CipherGCMTypes, key, iv, { authTagLength: tagBytes });
  d.setAAD(aad);
  d.setAuthTag(ctTag.subarray(ctTag.length - tagBytes));
  return Buffer.concat([d.update(ctTag.subarray(0, ctTag.length - tagBytes)), d.final()]);
}

function nodeCcm(key: Buffer, nonce: Buffer, aad: Buffer, data: Buffer, tagBytes: number): Buffer {
  const c = createCipheriv(aesName(key, 'ccm') as CipherCCMTypes, key, nonce, { authTagLength: tagBytes });
  c.setAAD(aad, { plaintextLength: data.length });
  return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
}

function nodeCcmDecrypt(key: Buffer, nonce: Buffer, aad: Buffer, ctTag: Buffer, tagBytes: number): Buffer {
  const d = createDecipheriv(aesName(key, 'ccm') as CipherCCMTypes, key, nonce, { authTagLength: tagBytes });
  const ct = ctTag.subarray(0, ctTag.length - tagBytes);
  d.setAuthTag(ctTag.subarray(ctTag.length - tagBytes));
  d.setAAD(aad, { plaintextLength: ct.length });
  return Buffer.concat([d.update(ct), d.final()]);
}

/** Every HMAC the module offers: [name, CKM_x_HMAC, CKM_x_HMAC_GENERAL, dedicated CKK, Node digest, output bytes]. */
const HMACS: ReadonlyArray<readonly [string, number, number, number, string, number]> = [
  ['SHA-1', CKM.CKM_SHA_1_HMAC, CKM.CKM_SHA_1_HMAC_GENERAL, CKK.CKK_SHA_1_HMAC, 'sha1', 20],
  ['SHA224', CKM.CKM_SHA224_HMAC, CKM.CKM_SHA224_HMAC_GENERAL, CKK.CKK_SHA224_HMAC, 'sha224', 28],
  ['SHA256', CKM.CKM_SHA256_HMAC, CKM.CKM_SHA256_HMAC_GENERAL, CKK.CKK_SHA256_HMAC, 'sha256', 32],
  ['SHA384', CKM.CKM_SHA384_HMAC, CKM.CKM_SHA384_HMAC_GENERAL, CKK.CKK_SHA384_HMAC, 'sha384', 48],
  ['SHA512', CKM.CKM_SHA512_HMAC, CKM.CKM_SHA512_HMAC_GENERAL, CKK.CKK_SHA512_HMAC, 'sha512', 64],
  ['SHA3-224', CKM.CKM_SHA3_224_HMAC, CKM.CKM_SHA3_224_HMAC_GENERAL, CKK.CKK_SHA3_224_HMAC, 'sha3-224', 28],
  ['SHA3-256', CKM.CKM_SHA3_256_HMAC, CKM.CKM_SHA3_256_HMAC_GENERAL, CKK.CKK_SHA3_256_HMAC, 'sha3-256', 32],
  ['SHA3-384', CKM.CKM_SHA3_384_HMAC, CKM.CKM_SHA3_384_HMAC_GENERAL, CKK.CKK_SHA3_384_HMAC, 'sha3-384', 48],
  ['SHA3-512', CKM.CKM_SHA3_512_HMAC, CKM.CKM_SHA3_512_HMAC_GENERAL, CKK.CKK_SHA3_512_HMAC, 'sha3-512', 64],
];

/** RFC 4493 section 4 (AES-128) and NIST SP 800-38B appendix D (AES-192/256) CMAC examples, over prefixes of one message. */
const CMAC_MESSAGE = hex(
  '6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710',
);
const CMAC_VECTORS: ReadonlyArray<readonly [string, string, number, string]> = [
  ['RFC 4493 example 1', '2b7e151628aed2a6abf7158809cf4f3c', 0, 'bb1d6929e95937287fa37d129b756746'],
  ['RFC 4493 example 2', '2b7e151628aed2a6abf7158809cf4f3c', 16, '070a16b46b4d4144f79bdd9dd04a287c'],
  ['RFC 4493 example 3', '2b7e151628aed2a6abf7158809cf4f3c', 40, 'dfa66747de9ae63030ca32611497c827'],
  ['RFC 4493 example 4', '2b7e151628aed2a6abf7158809cf4f3c', 64, '51f0bebf7e3b9d92fc49741779363cfe'],
  ['SP 800-38B AES-192 example 6', '8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b', 16, '9e99a7bf31e710900662f65e617c5184'],
  ['SP 800-38B AES-256 example 9', '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', 0, '028962f61b7bf89efc6b551f4667d983'],
  ['SP 800-38B AES-256 example 12', '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4', 64, 'e1992190549f6ed5696a2c056c315410'],
];

describe('AES and HMAC mechanisms through pkcs11js (in-process, process transport)', () => {
  const mod = new pkcs11js.PKCS11();
  let box: Sandbox;
  let restoreEnv: () => void;
  let slot: Buffer;
  let s: Buffer;

  beforeAll(() => {
    box = sandbox('process');
    restoreEnv = applyProcessEnv(box.env);
    mod.load(MODULE_PATH);
    mod.C_Initialize();
    slot = mod.C_GetSlotList(true)[0];
    mod.C_InitToken(slot, SO_PIN, paddedLabel('symmetric'));
    const so = mod.C_OpenSession(slot, RW);
    mod.C_Login(so, pkcs11js.CKU_SO, SO_PIN);
    mod.C_InitPIN(so, USER_PIN);
    mod.C_Logout(so);
    mod.C_Login(so, pkcs11js.CKU_USER, USER_PIN);
    // This session stays open (and the user logged in) for the whole file.
    expect(mod.C_GetSessionInfo(so).state).toBe(3);
  });
  afterAll(() => {
    mod.C_Finalize();
    mod.close();
    restoreEnv();
    box.cleanup();
  });
  beforeEach(() => {
    s = mod.C_OpenSession(slot, RW);
  });
  afterEach(() => {
    mod.C_CloseSession(s);
  });

  function secretKey(keyType: number, value: Buffer, extra: pkcs11js.Template = []): Buffer {
    return mod.C_CreateObject(s, [
      { type: CKA.CKA_CLASS, value: CKO.CKO_SECRET_KEY },
      { type: CKA.CKA_KEY_TYPE, value: keyType },
      { type: CKA.CKA_TOKEN, value: false },
      { type: CKA.CKA_VALUE, value },
      ...extra,
    ]);
  }
  const aesKey = (value: Buffer, extra: pkcs11js.Template = []): Buffer => secretKey(CKK.CKK_AES, value, extra);

  function encrypt(mech: pkcs11js.Mechanism, key: Buffer, data: Buffer): Buffer {
    mod.C_EncryptInit(s, mech, key);
    return Buffer.from(mod.C_Encrypt(s, data, Buffer.alloc(data.length + 64)));
  }
  function decrypt(mech: pkcs11js.Mechanism, key: Buffer, data: Buffer): Buffer {
    mod.C_DecryptInit(s, mech, key);
    return Buffer.from(mod.C_Decrypt(s, data, Buffer.alloc(data.length + 64)));
  }
  function sign(mech: pkcs11js.Mechanism, key: Buffer, data: Buffer): Buffer {
    mod.C_SignInit(s, mech, key);
    return Buffer.from(mod.C_Sign(s, data, Buffer.alloc(64)));
  }
  function verify(mech: pkcs11js.Mechanism, key: Buffer, data: Buffer, mac: Buffer): boolean {
    mod.C_VerifyInit(s, mech, key);
    return mod.C_Verify(s, data, mac);
  }
  /** Multi-part: C_EncryptUpdate over `chunks` then C_EncryptFinal, all outputs joined. */
  function encryptParts(mech: pkcs11js.Mechanism, key: Buffer, chunks: Buffer[]): Buffer {
    mod.C_EncryptInit(s, mech, key);
    const out = chunks.map((c) => Buffer.from(mod.C_EncryptUpdate(s, c, Buffer.alloc(c.length + 32))));
    out.push(Buffer.from(mod.C_EncryptFinal(s, Buffer.alloc(64))));
    return Buffer.concat(out);
  }
  function decryptParts(mech: pkcs11js.Mechanism, key: Buffer, chunks: Buffer[]): Buffer {
    mod.C_DecryptInit(s, mech, key);
    const out = chunks.map((c) => Buffer.from(mod.C_DecryptUpdate(s, c, Buffer.alloc(c.length + 64))));
    out.push(Buffer.from(mod.C_DecryptFinal(s, Buffer.alloc(256))));
    return Buffer.concat(out);
  }
  /** Splits data at the given lengths (the remainder is the last chunk). */
  function split(data: Buffer, sizes: number[]): Buffer[] {
    const parts: Buffer[] = [];
    let at = 0;
    for (const n of sizes) {
      parts.push(data.subarray(at, at + n));
      at += n;
    }
    parts.push(data.subarray(at));
    return parts;
  }
  function attrs(h: Buffer, types: number[]): Buffer[] {
    return mod.C_GetAttributeValue(
      s,
      h,
      types.map((type) => ({ type })),
    ).map((a) => a.value as Buffer);
  }

  describe('C_GenerateKey', () => {
    it.each([16, 24, 32])('CKM_AES_KEY_GEN makes a working %i-byte key with CKA_LOCAL and CKA_KEY_GEN_MECHANISM', (len) => {
      const key = mod.C_GenerateKey(s, { mechanism: CKM.CKM_AES_KEY_GEN }, [
        { type: CKA.CKA_VALUE_LEN, value: len },
        { type: CKA.CKA_TOKEN, value: false },
        { type: CKA.CKA_SENSITIVE, value: false },
        { type: CKA.CKA_EXTRACTABLE, value: true },
      ]);
      const [cls, type, value, valueLen, local, genMech, alwaysSensitive, neverExtractable] = attrs(key, [
        CKA.CKA_CLASS,
        CKA.CKA_KEY_TYPE,
        CKA.CKA_VALUE,
        CKA.CKA_VALUE_LEN,
        CKA.CKA_LOCAL,
        CKA.CKA_KEY_GEN_MECHANISM,
        CKA.CKA_ALWAYS_SENSITIVE,
        CKA.CKA_NEVER_EXTRACTABLE,
      ]);
      expect(ulongOf(cls)).toBe(CKO.CKO_SECRET_KEY);
      expect(ulongOf(type)).toBe(CKK.CKK_AES);
      expect(value).toHaveLength(len);
      expect(ulongOf(valueLen)).toBe(len);
      expect(boolOf(local)).toBe(true);
      expect(ulongOf(genMech)).toBe(CKM.CKM_AES_KEY_GEN);
      expect(boolOf(alwaysSensitive)).toBe(false);
      expect(boolOf(neverExtractable)).toBe(false);
      // The key encrypts as the value it reports.
      const data = randomBytes(48);
      expect(encrypt({ mechanism: CKM.CKM_AES_ECB }, key, data)).toEqual(nodeEncrypt('ecb', value, null, data));
    });

    it('two generated keys differ', () => {
      const gen = () =>
        attrs(
          mod.C_GenerateKey(s, { mechanism: CKM.CKM_AES_KEY_GEN }, [
            { type: CKA.CKA_VALUE_LEN, value: 32 },
            { type: CKA.CKA_SENSITIVE, value: false },
            { type: CKA.CKA_EXTRACTABLE, value: true },
          ]),
          [CKA.CKA_VALUE],
        )[0];
      expect(gen().equals(gen())).toBe(false);
    });

    it('sets CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE from CKA_SENSITIVE / CKA_EXTRACTABLE, and they stay put', () => {
      const gen = (extra: pkcs11js.Template) =>
        mod.C_GenerateKey(s, { mechanism: CKM.CKM_AES_KEY_GEN }, [{ type: CKA.CKA_VALUE_LEN, value: 16 }, ...extra]);
      const flags = (k: Buffer) =>
        attrs(k, [CKA.CKA_SENSITIVE, CKA.CKA_ALWAYS_SENSITIVE, CKA.CKA_EXTRACTABLE, CKA.CKA_NEVER_EXTRACTABLE]).map(boolOf);

      // Token defaults: sensitive and not extractable, so both "always" flags hold.
      const byDefault = gen([]);
      expect(flags(byDefault)).toEqual([true, true, false, true]);
      expect(ckrOf(() => attrs(byDefault, [CKA.CKA_VALUE]))).toBe(CKR.CKR_ATTRIBUTE_SENSITIVE);

      const sensitiveExtractable = gen([
        { type: CKA.CKA_SENSITIVE, value: true },
        { type: CKA.CKA_EXTRACTABLE, value: true },
      ]);
      expect(flags(sensitiveExtractable)).toEqual([true, true, true, false]);

      // Made sensitive / unextractable later: it has not *always* been so (section 4.10).
      const plain = gen([
        { type: CKA.CKA_SENSITIVE, value: false },
        { type: CKA.CKA_EXTRACTABLE, value: true },
      ]);
      expect(flags(plain)).toEqual([false, false, true, false]);
      mod.C_SetAttributeValue(s, plain, [
        { type: CKA.CKA_SENSITIVE, value: true },
        { type: CKA.CKA_EXTRACTABLE, value: false },
      ]);
      expect(flags(plain)).toEqual([true, false, false, false]);
      // They are the module's to set.
      expect(ckrOf(() => gen([{ type: CKA.CKA_ALWAYS_SENSITIVE, value: true }]))).toBe(CKR.CKR_ATTRIBUTE_READ_ONLY);
      expect(ckrOf(() => mod.C_SetAttributeValue(s, plain, [{ type: CKA.CKA_ALWAYS_SENSITIVE, value: true }]))).toBe(CKR.CKR_ATTRIBUTE_READ_ONLY);
    });

    it('refuses a missing or unsupported CKA_VALUE_LEN and contradicting templates', () => {
      const gen = (template: pkcs11js.Template) => ckrOf(() => mod.C_GenerateKey(s, { mechanism: CKM.CKM_AES_KEY_GEN }, template));
      expect(gen([])).toBe(CKR.CKR_TEMPLATE_INCOMPLETE);
      for (const bad of [0, 8, 20, 33, 64]) expect(gen([{ type: CKA.CKA_VALUE_LEN, value: bad }]), `${bad}`).toBe(CKR.CKR_KEY_SIZE_RANGE);
      expect(gen([{ type: CKA.CKA_VALUE_LEN, value: 16 }, { type: CKA.CKA_KEY_TYPE, value: CKK.CKK_GENERIC_SECRET }])).toBe(CKR.CKR_TEMPLATE_INCONSISTENT);
      expect(gen([{ type: CKA.CKA_VALUE_LEN, value: 16 }, { type: CKA.CKA_CLASS, value: CKO.CKO_DATA }])).toBe(CKR.CKR_TEMPLATE_INCONSISTENT);
      // A key generation mechanism takes no parameter; a cipher is no key generation mechanism.
      expect(ckrOf(() => mod.C_GenerateKey(s, { mechanism: CKM.CKM_AES_KEY_GEN, parameter: Buffer.alloc(16) }, [{ type: CKA.CKA_VALUE_LEN, value: 16 }]))).toBe(
        CKR.CKR_MECHANISM_PARAM_INVALID,
      );
      expect(ckrOf(() => mod.C_GenerateKey(s, { mechanism: CKM.CKM_AES_ECB }, [{ type: CKA.CKA_VALUE_LEN, value: 16 }]))).toBe(CKR.CKR_MECHANISM_INVALID);
    });

    it('applies the session and login rules to the new key', () => {
      const ro = mod.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      try {
        expect(
          ckrOf(() =>
            mod.C_GenerateKey(ro, { mechanism: CKM.CKM_AES_KEY_GEN }, [
              { type: CKA.CKA_VALUE_LEN, value: 16 },
              { type: CKA.CKA_TOKEN, value: true },
            ]),
          ),
        ).toBe(CKR.CKR_SESSION_READ_ONLY);
        // A session key is fine in a read-only session.
        mod.C_GenerateKey(ro, { mechanism: CKM.CKM_AES_KEY_GEN }, [{ type: CKA.CKA_VALUE_LEN, value: 16 }]);
      } finally {
        mod.C_CloseSession(ro);
      }
    });

    it('CKM_GENERIC_SECRET_KEY_GEN makes HMAC keys', () => {
      const key = mod.C_GenerateKey(s, { mechanism: CKM.CKM_GENERIC_SECRET_KEY_GEN }, [
        { type: CKA.CKA_VALUE_LEN, value: 40 },
        { type: CKA.CKA_SENSITIVE, value: false },
        { type: CKA.CKA_EXTRACTABLE, value: true },
      ]);
      const [type, value, local, genMech] = attrs(key, [CKA.CKA_KEY_TYPE, CKA.CKA_VALUE, CKA.CKA_LOCAL, CKA.CKA_KEY_GEN_MECHANISM]);
      expect(ulongOf(type)).toBe(CKK.CKK_GENERIC_SECRET);
      expect(value).toHaveLength(40);
      expect(boolOf(local)).toBe(true);
      expect(ulongOf(genMech)).toBe(CKM.CKM_GENERIC_SECRET_KEY_GEN);
      const data = Buffer.from('generic secret');
      expect(sign({ mechanism: CKM.CKM_SHA256_HMAC }, key, data)).toEqual(createHmac('sha256', value).update(data).digest());
      expect(ckrOf(() => mod.C_GenerateKey(s, { mechanism: CKM.CKM_GENERIC_SECRET_KEY_GEN }, []))).toBe(CKR.CKR_TEMPLATE_INCOMPLETE);
      expect(ckrOf(() => mod.C_GenerateKey(s, { mechanism: CKM.CKM_GENERIC_SECRET_KEY_GEN }, [{ type: CKA.CKA_VALUE_LEN, value: 0 }]))).toBe(
        CKR.CKR_KEY_SIZE_RANGE,
      );
    });
  });

  describe('AES-GCM', () => {
    const plaintext = randomBytes(45);
    const aad = Buffer.from('header: authenticated, not encrypted');
    const CASES = [
      [16, 12, 96],
      [16, 16, 128],
      [24, 12, 128],
      [32, 12, 128],
      [32, 16, 96],
    ] as const;

    it.each(CASES)('%i-byte key, %i-byte IV, %i-bit tag: equals Node in both directions', (keyLen, ivLen, tagBits) => {
      const keyValue = randomBytes(keyLen);
      const key = aesKey(keyValue);
      const iv = randomBytes(ivLen);
      const expected = nodeGcm(keyValue, iv, aad, plaintext, tagBits / 8);
      expect(expected).toHaveLength(plaintext.length + tagBits / 8);
      expect(encrypt(gcm(iv, aad, tagBits), key, plaintext)).toEqual(expected);
      expect(encryptParts(gcm(iv, aad, tagBits), key, split(plaintext, [1, 16, 7]))).toEqual(expected);
      expect(decrypt(gcm(iv, aad, tagBits), key, expected)).toEqual(plaintext);
      expect(decryptParts(gcm(iv, aad, tagBits), key, split(expected, [5, 30]))).toEqual(plaintext);
      // Module output decrypts in Node.
      expect(nodeGcmDecrypt(keyValue, iv, aad, encrypt(gcm(iv, aad, tagBits), key, plaintext), tagBits / 8)).toEqual(plaintext);
    });

    it('empty plaintext and no AAD', () => {
      const keyValue = randomBytes(16);
      const key = aesKey(keyValue);
      const iv = randomBytes(12);
      const tagOnly = nodeGcm(keyValue, iv, Buffer.alloc(0), Buffer.alloc(0), 16);
      expect(encrypt(gcm(iv, undefined, 128), key, Buffer.alloc(0))).toEqual(tagOnly);
      expect(decrypt(gcm(iv, undefined, 128), key, tagOnly)).toEqual(Buffer.alloc(0));
    });

    it('a flipped tag, ciphertext or AAD bit is CKR_ENCRYPTED_DATA_INVALID and releases no plaintext', () => {
      const keyValue = randomBytes(32);
      const key = aesKey(keyValue);
      const iv = randomBytes(12);
      const good = nodeGcm(keyValue, iv, aad, plaintext, 16);
      const tamperedTag = Buffer.from(good);
      tamperedTag[good.length - 1] ^= 0x01;
      const tamperedCt = Buffer.from(good);
      tamperedCt[3] ^= 0x80;
      const badAad = Buffer.from(aad);
      badAad[0] ^= 0x01;
      for (const [ct, a] of [
        [tamperedTag, aad],
        [tamperedCt, aad],
        [good, badAad],
      ] as const) {
        mod.C_DecryptInit(s, gcm(iv, a, 128), key);
        const out = Buffer.alloc(good.length + 16, 0xee);
        expect(ckrOf(() => mod.C_Decrypt(s, ct, out))).toBe(CKR.CKR_ENCRYPTED_DATA_INVALID);
        expect(out.equals(Buffer.alloc(good.length + 16, 0xee)), 'output buffer untouched').toBe(true);
        // The failure ended the operation.
        expect(ckrOf(() => mod.C_Decrypt(s, ct, out))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
      }
      // Multi-part: the updates release nothing, the final refuses.
      mod.C_DecryptInit(s, gcm(iv, aad, 128), key);
      expect(mod.C_DecryptUpdate(s, tamperedTag.subarray(0, 20), Buffer.alloc(64))).toHaveLength(0);
      expect(mod.C_DecryptUpdate(s, tamperedTag.subarray(20), Buffer.alloc(64))).toHaveLength(0);
      const last = Buffer.alloc(128, 0xee);
      expect(ckrOf(() => mod.C_DecryptFinal(s, last))).toBe(CKR.CKR_ENCRYPTED_DATA_INVALID);
      expect(last.equals(Buffer.alloc(128, 0xee))).toBe(true);
      // A ciphertext shorter than the tag.
      mod.C_DecryptInit(s, gcm(iv, aad, 128), key);
      expect(ckrOf(() => mod.C_Decrypt(s, good.subarray(0, 15), Buffer.alloc(64)))).toBeOneOf([
        CKR.CKR_ENCRYPTED_DATA_INVALID,
        CKR.CKR_ENCRYPTED_DATA_LEN_RANGE,
      ]);
    });
  });

  describe('AES-CCM', () => {
    const plaintext = randomBytes(45);
    const aad = Buffer.from('ccm associated data');

    it.each([
      [16, 13, 16],
      [16, 7, 8],
      [24, 12, 12],
      [32, 11, 4],
    ] as const)('%i-byte key, %i-byte nonce, %i-byte MAC: equals Node in both directions', (keyLen, nonceLen, macLen) => {
      const keyValue = randomBytes(keyLen);
      const key = aesKey(keyValue);
      const nonce = randomBytes(nonceLen);
      const expected = nodeCcm(keyValue, nonce, aad, plaintext, macLen);
      expect(encrypt(ccm(plaintext.length, nonce, aad, macLen), key, plaintext)).toEqual(expected);
      expect(encryptParts(ccm(plaintext.length, nonce, aad, macLen), key, split(plaintext, [3, 17]))).toEqual(expected);
      // CK_CCM_PARAMS.ulDataLen is the plaintext length in both directions.
      expect(decrypt(ccm(plaintext.length, nonce, aad, macLen), key, expected)).toEqual(plaintext);
      expect(nodeCcmDecrypt(keyValue, nonce, aad, encrypt(ccm(plaintext.length, nonce, aad, macLen), key, plaintext), macLen)).toEqual(plaintext);
    });

    it('a wrong MAC is CKR_ENCRYPTED_DATA_INVALID; data of another length than ulDataLen is refused; bad parameters', () => {
      const keyValue = randomBytes(16);
      const key = aesKey(keyValue);
      const nonce = randomBytes(12);
      const good = nodeCcm(keyValue, nonce, aad, plaintext, 16);
      const bad = Buffer.from(good);
      bad[bad.length - 1] ^= 0x40;
      mod.C_DecryptInit(s, ccm(plaintext.length, nonce, aad, 16), key);
      const out = Buffer.alloc(128, 0xee);
      expect(ckrOf(() => mod.C_Decrypt(s, bad, out))).toBe(CKR.CKR_ENCRYPTED_DATA_INVALID);
      expect(out.equals(Buffer.alloc(128, 0xee))).toBe(true);

      mod.C_EncryptInit(s, ccm(plaintext.length, nonce, aad, 16), key);
      expect(ckrOf(() => mod.C_Encrypt(s, plaintext.subarray(1), Buffer.alloc(128)))).toBe(CKR.CKR_DATA_LEN_RANGE);
      mod.C_EncryptInit(s, ccm(plaintext.length, nonce, aad, 16), key);
      expect(ckrOf(() => mod.C_Encrypt(s, Buffer.concat([plaintext, Buffer.alloc(1)]), Buffer.alloc(128)))).toBe(CKR.CKR_DATA_LEN_RANGE);

      for (const [nonceLen, macLen] of [
        [6, 16],
        [14, 16],
        [12, 3],
        [12, 17],
        [12, 0],
      ]) {
        expect(ckrOf(() => mod.C_EncryptInit(s, ccm(16, randomBytes(nonceLen), undefined, macLen), key)), `${nonceLen}/${macLen}`).toBe(
          CKR.CKR_MECHANISM_PARAM_INVALID,
        );
      }
    });
  });

  describe('AES-CTR', () => {
    it.each([16, 24, 32])('%i-byte key, 128 counter bits, odd length: equals Node both ways, single and multi-part', (keyLen) => {
      const keyValue = randomBytes(keyLen);
      const key = aesKey(keyValue);
      const cb = randomBytes(16);
      const data = randomBytes(100);
      const expected = nodeEncrypt('ctr', keyValue, cb, data);
      const mech = { mechanism: CKM.CKM_AES_CTR, parameter: ctrParam(128, cb) };
      expect(encrypt(mech, key, data)).toEqual(expected);
      expect(encryptParts(mech, key, split(data, [1, 15, 33]))).toEqual(expected);
      expect(decrypt(mech, key, expected)).toEqual(data);
      expect(decryptParts(mech, key, split(expected, [7, 9]))).toEqual(data);
    });

    it('increments only the low ulCounterBits bits and refuses to wrap them with CKR_DATA_LEN_RANGE', () => {
      const keyValue = randomBytes(16);
      const key = aesKey(keyValue);
      const prefix = randomBytes(14);

      // 16 counter bits starting at 0x00ff: the carry stays inside the counter, so this is plain CTR.
      const cb16 = Buffer.concat([prefix, hex('00ff')]);
      const data = randomBytes(64);
      expect(encrypt({ mechanism: CKM.CKM_AES_CTR, parameter: ctrParam(16, cb16) }, key, data)).toEqual(nodeEncrypt('ctr', keyValue, cb16, data));

      // 8 counter bits starting at 0xfe: two blocks fit (0xfe, 0xff), a third would wrap.
      const cb8 = Buffer.concat([prefix, hex('00fe')]);
      const mech8 = { mechanism: CKM.CKM_AES_CTR, parameter: ctrParam(8, cb8) };
      expect(encrypt(mech8, key, data.subarray(0, 32))).toEqual(nodeEncrypt('ctr', keyValue, cb8, data.subarray(0, 32)));
      mod.C_EncryptInit(s, mech8, key);
      expect(ckrOf(() => mod.C_Encrypt(s, data.subarray(0, 33), Buffer.alloc(64)))).toBe(CKR.CKR_DATA_LEN_RANGE);
      expect(ckrOf(() => mod.C_Encrypt(s, data.subarray(0, 16), Buffer.alloc(64)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);

      // Multi-part: the update that would wrap is refused.
      mod.C_EncryptInit(s, mech8, key);
      expect(mod.C_EncryptUpdate(s, data.subarray(0, 20), Buffer.alloc(64))).toEqual(nodeEncrypt('ctr', keyValue, cb8, data.subarray(0, 20)));
      expect(ckrOf(() => mod.C_EncryptUpdate(s, data.subarray(20, 33), Buffer.alloc(64)))).toBe(CKR.CKR_DATA_LEN_RANGE);
      // Decryption: same counter rule, its own return code.
      mod.C_DecryptInit(s, mech8, key);
      expect(ckrOf(() => mod.C_Decrypt(s, data.subarray(0, 33), Buffer.alloc(64)))).toBe(CKR.CKR_ENCRYPTED_DATA_LEN_RANGE);

      // 1 counter bit: a single block per counter value.
      const cb1 = Buffer.concat([prefix, hex('0000')]);
      const mech1 = { mechanism: CKM.CKM_AES_CTR, parameter: ctrParam(1, cb1) };
      expect(encrypt(mech1, key, data.subarray(0, 32))).toEqual(nodeEncrypt('ctr', keyValue, cb1, data.subarray(0, 32)));
      mod.C_EncryptInit(s, mech1, key);
      expect(ckrOf(() => mod.C_Encrypt(s, data.subarray(0, 33), Buffer.alloc(64)))).toBe(CKR.CKR_DATA_LEN_RANGE);
    });

    it('refuses ulCounterBits 0 or over 128 and a bare IV', () => {
      const key = aesKey(randomBytes(16));
      const cb = randomBytes(16);
      for (const bits of [0, 129, 256]) {
        expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_CTR, parameter: ctrParam(bits, cb) }, key)), `${bits}`).toBe(
          CKR.CKR_MECHANISM_PARAM_INVALID,
        );
      }
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_CTR, parameter: cb }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_CTR }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
    });
  });

  describe('AES-ECB, AES-CBC and AES-CBC-PAD', () => {
    it.each([16, 24, 32])('%i-byte key: ECB, CBC and CBC-PAD equal Node in both directions', (keyLen) => {
      const keyValue = randomBytes(keyLen);
      const key = aesKey(keyValue);
      const iv = randomBytes(16);
      const aligned = randomBytes(64);
      const ecb = nodeEncrypt('ecb', keyValue, null, aligned);
      expect(encrypt({ mechanism: CKM.CKM_AES_ECB }, key, aligned)).toEqual(ecb);
      expect(decrypt({ mechanism: CKM.CKM_AES_ECB }, key, ecb)).toEqual(aligned);
      const cbc = nodeEncrypt('cbc', keyValue, iv, aligned);
      expect(encrypt({ mechanism: CKM.CKM_AES_CBC, parameter: iv }, key, aligned)).toEqual(cbc);
      expect(decrypt({ mechanism: CKM.CKM_AES_CBC, parameter: iv }, key, cbc)).toEqual(aligned);
      for (const len of [0, 1, 15, 16, 17, 63]) {
        const data = randomBytes(len);
        const padded = nodeEncrypt('cbc', keyValue, iv, data, true);
        expect(padded.length).toBe((Math.floor(len / 16) + 1) * 16);
        expect(encrypt({ mechanism: CKM.CKM_AES_CBC_PAD, parameter: iv }, key, data), `${len}`).toEqual(padded);
        expect(decrypt({ mechanism: CKM.CKM_AES_CBC_PAD, parameter: iv }, key, padded), `${len}`).toEqual(data);
      }
    });

    it('CBC-PAD multi-part in odd chunks equals single-part, both directions', () => {
      const keyValue = randomBytes(32);
      const key = aesKey(keyValue);
      const iv = randomBytes(16);
      const mech = { mechanism: CKM.CKM_AES_CBC_PAD, parameter: iv };
      const data = randomBytes(100);
      const single = encrypt(mech, key, data);
      expect(single).toEqual(nodeEncrypt('cbc', keyValue, iv, data, true));
      expect(encryptParts(mech, key, split(data, [1, 7, 13, 30, 0, 17]))).toEqual(single);
      // Each update returns whole blocks only.
      mod.C_EncryptInit(s, mech, key);
      expect(mod.C_EncryptUpdate(s, data.subarray(0, 15), Buffer.alloc(64))).toHaveLength(0);
      expect(mod.C_EncryptUpdate(s, data.subarray(15, 33), Buffer.alloc(64))).toHaveLength(32);
      expect(mod.C_EncryptUpdate(s, data.subarray(33), Buffer.alloc(128))).toHaveLength(64);
      expect(mod.C_EncryptFinal(s, Buffer.alloc(32))).toHaveLength(16);

      expect(decryptParts(mech, key, split(single, [1, 15, 16, 31, 5]))).toEqual(data);
      // The last block is held back until C_DecryptFinal, which strips the padding.
      mod.C_DecryptInit(s, mech, key);
      expect(mod.C_DecryptUpdate(s, single.subarray(0, 16), Buffer.alloc(64))).toHaveLength(0);
      expect(mod.C_DecryptUpdate(s, single.subarray(16), Buffer.alloc(128))).toHaveLength(96);
      expect(mod.C_DecryptFinal(s, Buffer.alloc(32))).toEqual(data.subarray(96));
    });

    it('refuses data that is not block-aligned, bad padding and bad IVs', () => {
      const keyValue = randomBytes(16);
      const key = aesKey(keyValue);
      const iv = randomBytes(16);
      // ECB and CBC without padding take whole blocks only; the failure ends the operation.
      for (const mech of [{ mechanism: CKM.CKM_AES_ECB }, { mechanism: CKM.CKM_AES_CBC, parameter: iv }]) {
        mod.C_EncryptInit(s, mech, key);
        expect(ckrOf(() => mod.C_Encrypt(s, randomBytes(17), Buffer.alloc(64)))).toBe(CKR.CKR_DATA_LEN_RANGE);
        expect(ckrOf(() => mod.C_Encrypt(s, randomBytes(16), Buffer.alloc(64)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
        mod.C_DecryptInit(s, mech, key);
        expect(ckrOf(() => mod.C_Decrypt(s, randomBytes(31), Buffer.alloc(64)))).toBe(CKR.CKR_ENCRYPTED_DATA_LEN_RANGE);
        // Multi-part: the remainder is found at C_EncryptFinal.
        mod.C_EncryptInit(s, mech, key);
        expect(mod.C_EncryptUpdate(s, randomBytes(20), Buffer.alloc(64))).toHaveLength(16);
        expect(ckrOf(() => mod.C_EncryptFinal(s, Buffer.alloc(64)))).toBe(CKR.CKR_DATA_LEN_RANGE);
      }
      // CBC-PAD decryption of a non-multiple, and of a bad padding.
      const cbcPad = { mechanism: CKM.CKM_AES_CBC_PAD, parameter: iv };
      mod.C_DecryptInit(s, cbcPad, key);
      expect(ckrOf(() => mod.C_Decrypt(s, randomBytes(20), Buffer.alloc(64)))).toBe(CKR.CKR_ENCRYPTED_DATA_LEN_RANGE);
      const badPadding = nodeEncrypt('cbc', keyValue, iv, Buffer.concat([randomBytes(15), Buffer.from([0x11])]));
      mod.C_DecryptInit(s, cbcPad, key);
      expect(ckrOf(() => mod.C_Decrypt(s, badPadding, Buffer.alloc(64)))).toBe(CKR.CKR_ENCRYPTED_DATA_INVALID);
      // IVs: exactly 16 bytes; ECB takes none.
      for (const mechanism of [CKM.CKM_AES_CBC, CKM.CKM_AES_CBC_PAD]) {
        expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism, parameter: randomBytes(8) }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
        expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism, parameter: randomBytes(32) }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
        expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      }
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_ECB, parameter: iv }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      // None of the failed inits left an operation behind.
      expect(ckrOf(() => mod.C_Encrypt(s, randomBytes(16), Buffer.alloc(64)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
    });
  });

  describe('output buffers and operation state (section 5.2)', () => {
    it('a NULL output buffer returns the exact length and keeps the operation', () => {
      const keyValue = randomBytes(16);
      const key = aesKey(keyValue);
      const iv = randomBytes(16);
      const data = randomBytes(45);
      const mech = { mechanism: CKM.CKM_AES_CBC_PAD, parameter: iv };
      const expected = nodeEncrypt('cbc', keyValue, iv, data, true);

      mod.C_EncryptInit(s, mech, key);
      const q = nullOutput();
      mod.C_Encrypt(s, data, q.buffer);
      expect(q.length()).toBe(48);
      const q2 = nullOutput();
      mod.C_Encrypt(s, data, q2.buffer);
      expect(q2.length()).toBe(48);
      expect(mod.C_Encrypt(s, data, Buffer.alloc(48))).toEqual(expected);

      // Multi-part: C_EncryptUpdate and C_EncryptFinal size queries.
      mod.C_EncryptInit(s, mech, key);
      const u = nullOutput();
      mod.C_EncryptUpdate(s, data.subarray(0, 40), u.buffer);
      expect(u.length()).toBe(32);
      expect(mod.C_EncryptUpdate(s, data.subarray(0, 40), Buffer.alloc(32))).toEqual(expected.subarray(0, 32));
      mod.C_EncryptUpdate(s, data.subarray(40), Buffer.alloc(0x10));
      const f = nullOutput();
      mod.C_EncryptFinal(s, f.buffer);
      expect(f.length()).toBe(16);
      expect(mod.C_EncryptFinal(s, Buffer.alloc(16))).toEqual(expected.subarray(32));

      // GCM: ciphertext plus tag.
      const gcmKey = aesKey(keyValue);
      const gIv = randomBytes(12);
      mod.C_EncryptInit(s, gcm(gIv, undefined, 96), gcmKey);
      const g = nullOutput();
      mod.C_Encrypt(s, data, g.buffer);
      expect(g.length()).toBe(45 + 12);
      expect(mod.C_Encrypt(s, data, Buffer.alloc(57))).toEqual(nodeGcm(keyValue, gIv, Buffer.alloc(0), data, 12));

      // Decryption: GCM holds back the tag; CBC-PAD may answer with an upper bound (section 5.2).
      mod.C_DecryptInit(s, gcm(gIv, undefined, 96), gcmKey);
      const gd = nullOutput();
      mod.C_Decrypt(s, Buffer.alloc(57), gd.buffer);
      expect(gd.length()).toBe(45);
      expect(mod.C_Decrypt(s, nodeGcm(keyValue, gIv, Buffer.alloc(0), data, 12), Buffer.alloc(45))).toEqual(data);
      mod.C_DecryptInit(s, mech, key);
      const pd = nullOutput();
      mod.C_Decrypt(s, expected, pd.buffer);
      expect(pd.length()).toBeGreaterThanOrEqual(45);
      expect(pd.length()).toBeLessThanOrEqual(48);
      expect(mod.C_Decrypt(s, expected, Buffer.alloc(pd.length()!))).toEqual(data);

      // Sign: the MAC length.
      const hmacKey = secretKey(CKK.CKK_GENERIC_SECRET, randomBytes(32));
      mod.C_SignInit(s, { mechanism: CKM.CKM_SHA384_HMAC }, hmacKey);
      const m = nullOutput();
      mod.C_Sign(s, data, m.buffer);
      expect(m.length()).toBe(48);
      expect(mod.C_Sign(s, data, Buffer.alloc(48))).toHaveLength(48);
    });

    it('CKR_BUFFER_TOO_SMALL keeps the operation; other failures end it', () => {
      const keyValue = randomBytes(16);
      const key = aesKey(keyValue);
      const iv = randomBytes(16);
      const data = randomBytes(45);
      const mech = { mechanism: CKM.CKM_AES_CBC_PAD, parameter: iv };
      const expected = nodeEncrypt('cbc', keyValue, iv, data, true);
      mod.C_EncryptInit(s, mech, key);
      expect(ckrOf(() => mod.C_Encrypt(s, data, Buffer.alloc(47)))).toBe(CKR.CKR_BUFFER_TOO_SMALL);
      expect(ckrOf(() => mod.C_Encrypt(s, data, Buffer.alloc(1)))).toBe(CKR.CKR_BUFFER_TOO_SMALL);
      expect(mod.C_Encrypt(s, data, Buffer.alloc(48))).toEqual(expected);

      mod.C_DecryptInit(s, mech, key);
      expect(ckrOf(() => mod.C_DecryptUpdate(s, expected, Buffer.alloc(16)))).toBe(CKR.CKR_BUFFER_TOO_SMALL);
      expect(mod.C_DecryptUpdate(s, expected, Buffer.alloc(48))).toEqual(data.subarray(0, 32));
      expect(ckrOf(() => mod.C_DecryptFinal(s, Buffer.alloc(8)))).toBe(CKR.CKR_BUFFER_TOO_SMALL);
      expect(mod.C_DecryptFinal(s, Buffer.alloc(16))).toEqual(data.subarray(32));

      const hmacKey = secretKey(CKK.CKK_GENERIC_SECRET, randomBytes(32));
      mod.C_SignInit(s, { mechanism: CKM.CKM_SHA256_HMAC }, hmacKey);
      mod.C_SignUpdate(s, data);
      expect(ckrOf(() => mod.C_SignFinal(s, Buffer.alloc(31)))).toBe(CKR.CKR_BUFFER_TOO_SMALL);
      expect(mod.C_SignFinal(s, Buffer.alloc(32))).toHaveLength(32);
      expect(ckrOf(() => mod.C_SignFinal(s, Buffer.alloc(32)))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
    });

    it('C_Encrypt after C_EncryptUpdate is CKR_OPERATION_ACTIVE; a second C_EncryptInit too', () => {
      const key = aesKey(randomBytes(16));
      const mech = { mechanism: CKM.CKM_AES_CBC_PAD, parameter: randomBytes(16) };
      mod.C_EncryptInit(s, mech, key);
      expect(ckrOf(() => mod.C_EncryptInit(s, mech, key))).toBe(CKR.CKR_OPERATION_ACTIVE);
      mod.C_EncryptUpdate(s, randomBytes(20), Buffer.alloc(32));
      expect(ckrOf(() => mod.C_Encrypt(s, randomBytes(20), Buffer.alloc(64)))).toBe(CKR.CKR_OPERATION_ACTIVE);

      mod.C_DecryptInit(s, mech, key);
      mod.C_DecryptUpdate(s, randomBytes(32), Buffer.alloc(32));
      expect(ckrOf(() => mod.C_Decrypt(s, randomBytes(32), Buffer.alloc(64)))).toBe(CKR.CKR_OPERATION_ACTIVE);

      const hmacKey = secretKey(CKK.CKK_GENERIC_SECRET, randomBytes(32));
      mod.C_SignInit(s, { mechanism: CKM.CKM_SHA256_HMAC }, hmacKey);
      mod.C_SignUpdate(s, Buffer.from('part'));
      expect(ckrOf(() => mod.C_Sign(s, Buffer.from('all'), Buffer.alloc(32)))).toBe(CKR.CKR_OPERATION_ACTIVE);
      mod.C_VerifyInit(s, { mechanism: CKM.CKM_SHA256_HMAC }, hmacKey);
      mod.C_VerifyUpdate(s, Buffer.from('part'));
      expect(ckrOf(() => mod.C_Verify(s, Buffer.from('all'), Buffer.alloc(32)))).toBe(CKR.CKR_OPERATION_ACTIVE);
    });
  });

  describe('AES-CMAC', () => {
    it.each(CMAC_VECTORS)('%s', (_name, keyHex, len, macHex) => {
      const key = aesKey(hex(keyHex));
      const message = CMAC_MESSAGE.subarray(0, len);
      const mac = hex(macHex);
      expect(sign({ mechanism: CKM.CKM_AES_CMAC }, key, message)).toEqual(mac);
      // Multi-part, split inside and on block boundaries.
      mod.C_SignInit(s, { mechanism: CKM.CKM_AES_CMAC }, key);
      for (const part of split(message, [5, 11, 16])) mod.C_SignUpdate(s, part);
      expect(mod.C_SignFinal(s, Buffer.alloc(16))).toEqual(mac);
      expect(verify({ mechanism: CKM.CKM_AES_CMAC }, key, message, mac)).toBe(true);
      mod.C_VerifyInit(s, { mechanism: CKM.CKM_AES_CMAC }, key);
      for (const part of split(message, [16, 1])) mod.C_VerifyUpdate(s, part);
      expect(mod.C_VerifyFinal(s, mac)).toBe(true);
    });

    it('CKM_AES_CMAC_GENERAL truncates to ulLength; verification checks length and value', () => {
      const key = aesKey(hex(CMAC_VECTORS[3][1]));
      const full = hex(CMAC_VECTORS[3][3]);
      const message = CMAC_MESSAGE;
      for (const len of [1, 4, 8, 15, 16]) {
        const mech = { mechanism: CKM.CKM_AES_CMAC_GENERAL, parameter: ulongs(len) };
        expect(sign(mech, key, message), `${len}`).toEqual(full.subarray(0, len));
        expect(verify(mech, key, message, full.subarray(0, len))).toBe(true);
      }
      const mech8 = { mechanism: CKM.CKM_AES_CMAC_GENERAL, parameter: ulongs(8) };
      expect(ckrOf(() => verify(mech8, key, message, full))).toBe(CKR.CKR_SIGNATURE_LEN_RANGE);
      const wrong = Buffer.from(full.subarray(0, 8));
      wrong[7] ^= 1;
      expect(ckrOf(() => verify(mech8, key, message, wrong))).toBe(CKR.CKR_SIGNATURE_INVALID);
      expect(ckrOf(() => verify({ mechanism: CKM.CKM_AES_CMAC }, key, message, full.subarray(0, 15)))).toBe(CKR.CKR_SIGNATURE_LEN_RANGE);
      for (const len of [0, 17]) {
        expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_AES_CMAC_GENERAL, parameter: ulongs(len) }, key)), `${len}`).toBe(
          CKR.CKR_MECHANISM_PARAM_INVALID,
        );
      }
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_AES_CMAC_GENERAL }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_AES_CMAC, parameter: ulongs(8) }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
    });
  });

  describe('HMAC', () => {
    const message = Buffer.from('The quick brown fox jumps over the lazy dog. '.repeat(7));

    it.each(HMACS)('%s-HMAC and _GENERAL equal Node createHmac', (_name, full, general, _keyType, nodeName, size) => {
      // A short key, and one longer than any block size (hashed first).
      for (const keyValue of [randomBytes(20), randomBytes(200)]) {
        const key = secretKey(CKK.CKK_GENERIC_SECRET, keyValue);
        const expected = createHmac(nodeName, keyValue).update(message).digest();
        expect(expected).toHaveLength(size);
        expect(sign({ mechanism: full }, key, message)).toEqual(expected);
        mod.C_SignInit(s, { mechanism: full }, key);
        for (const part of split(message, [1, 63, 64, 0])) mod.C_SignUpdate(s, part);
        expect(mod.C_SignFinal(s, Buffer.alloc(64))).toEqual(expected);
        expect(verify({ mechanism: full }, key, message, expected)).toBe(true);

        const half = Math.floor(size / 2);
        for (const len of [1, half, size]) {
          const mech = { mechanism: general, parameter: ulongs(len) };
          expect(sign(mech, key, message), `general ${len}`).toEqual(expected.subarray(0, len));
          expect(verify(mech, key, message, expected.subarray(0, len))).toBe(true);
        }
      }
      const key = secretKey(CKK.CKK_GENERIC_SECRET, randomBytes(32));
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: general, parameter: ulongs(size + 1) }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: general, parameter: ulongs(0) }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
    });

    it.each(HMACS)('%s-HMAC verification: wrong length is CKR_SIGNATURE_LEN_RANGE, wrong MAC CKR_SIGNATURE_INVALID', (_name, full, general, _kt, nodeName, size) => {
      const keyValue = randomBytes(32);
      const key = secretKey(CKK.CKK_GENERIC_SECRET, keyValue);
      const mac = createHmac(nodeName, keyValue).update(message).digest();
      expect(ckrOf(() => verify({ mechanism: full }, key, message, mac.subarray(0, size - 1)))).toBe(CKR.CKR_SIGNATURE_LEN_RANGE);
      expect(ckrOf(() => verify({ mechanism: full }, key, message, Buffer.concat([mac, Buffer.alloc(1)])))).toBe(CKR.CKR_SIGNATURE_LEN_RANGE);
      const wrong = Buffer.from(mac);
      wrong[size - 1] ^= 0x80;
      expect(ckrOf(() => verify({ mechanism: full }, key, message, wrong))).toBe(CKR.CKR_SIGNATURE_INVALID);
      // The other message.
      expect(ckrOf(() => verify({ mechanism: full }, key, Buffer.from('other'), mac))).toBe(CKR.CKR_SIGNATURE_INVALID);
      // _GENERAL: the signature must have exactly ulLength bytes.
      const mech10 = { mechanism: general, parameter: ulongs(10) };
      expect(ckrOf(() => verify(mech10, key, message, mac))).toBe(CKR.CKR_SIGNATURE_LEN_RANGE);
      expect(ckrOf(() => verify(mech10, key, message, mac.subarray(0, 9)))).toBe(CKR.CKR_SIGNATURE_LEN_RANGE);
      // Multi-part verification fails the same way, and the failure ends it.
      mod.C_VerifyInit(s, { mechanism: full }, key);
      mod.C_VerifyUpdate(s, message);
      expect(ckrOf(() => mod.C_VerifyFinal(s, wrong))).toBe(CKR.CKR_SIGNATURE_INVALID);
      expect(ckrOf(() => mod.C_VerifyFinal(s, mac))).toBe(CKR.CKR_OPERATION_NOT_INITIALIZED);
    });

    it('the dedicated HMAC key types work with their own digest only', () => {
      const keyValue = randomBytes(32);
      const key = secretKey(CKK.CKK_SHA256_HMAC, keyValue);
      expect(sign({ mechanism: CKM.CKM_SHA256_HMAC }, key, message)).toEqual(createHmac('sha256', keyValue).update(message).digest());
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_SHA512_HMAC }, key))).toBe(CKR.CKR_KEY_TYPE_INCONSISTENT);
      const key3 = secretKey(CKK.CKK_SHA3_512_HMAC, keyValue);
      expect(sign({ mechanism: CKM.CKM_SHA3_512_HMAC }, key3, message)).toEqual(createHmac('sha3-512', keyValue).update(message).digest());
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_SHA512_HMAC }, key3))).toBe(CKR.CKR_KEY_TYPE_INCONSISTENT);
    });
  });

  describe('key checks at C_*Init', () => {
    it('the usage attribute must allow the operation: CKR_KEY_FUNCTION_NOT_PERMITTED', () => {
      const value = randomBytes(16);
      const iv = { mechanism: CKM.CKM_AES_CBC, parameter: randomBytes(16) };
      const noEncrypt = aesKey(value, [{ type: CKA.CKA_ENCRYPT, value: false }]);
      expect(ckrOf(() => mod.C_EncryptInit(s, iv, noEncrypt))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
      mod.C_DecryptInit(s, iv, noEncrypt);
      mod.C_Decrypt(s, randomBytes(16), Buffer.alloc(16));
      const noDecrypt = aesKey(value, [{ type: CKA.CKA_DECRYPT, value: false }]);
      expect(ckrOf(() => mod.C_DecryptInit(s, iv, noDecrypt))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
      const noSign = aesKey(value, [{ type: CKA.CKA_SIGN, value: false }]);
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_AES_CMAC }, noSign))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
      const noVerify = secretKey(CKK.CKK_GENERIC_SECRET, value, [{ type: CKA.CKA_VERIFY, value: false }]);
      expect(ckrOf(() => mod.C_VerifyInit(s, { mechanism: CKM.CKM_SHA256_HMAC }, noVerify))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
      mod.C_SignInit(s, { mechanism: CKM.CKM_SHA256_HMAC }, noVerify);
      expect(mod.C_Sign(s, Buffer.from('x'), Buffer.alloc(32))).toHaveLength(32);
      // The usage flag is read at init time: clearing it later stops the next init.
      const later = aesKey(value);
      mod.C_EncryptInit(s, iv, later);
      mod.C_SetAttributeValue(s, later, [{ type: CKA.CKA_ENCRYPT, value: false }]);
      expect(mod.C_Encrypt(s, randomBytes(16), Buffer.alloc(16))).toHaveLength(16);
      expect(ckrOf(() => mod.C_EncryptInit(s, iv, later))).toBe(CKR.CKR_KEY_FUNCTION_NOT_PERMITTED);
    });

    it('the key type must suit the mechanism: CKR_KEY_TYPE_INCONSISTENT', () => {
      const aes = aesKey(randomBytes(32));
      const generic = secretKey(CKK.CKK_GENERIC_SECRET, randomBytes(32));
      for (const mechanism of [CKM.CKM_SHA256_HMAC, CKM.CKM_SHA_1_HMAC, CKM.CKM_SHA3_256_HMAC]) {
        expect(ckrOf(() => mod.C_SignInit(s, { mechanism }, aes))).toBe(CKR.CKR_KEY_TYPE_INCONSISTENT);
        expect(ckrOf(() => mod.C_VerifyInit(s, { mechanism }, aes))).toBe(CKR.CKR_KEY_TYPE_INCONSISTENT);
      }
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_SHA256_HMAC_GENERAL, parameter: ulongs(16) }, aes))).toBe(CKR.CKR_KEY_TYPE_INCONSISTENT);
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_ECB }, generic))).toBe(CKR.CKR_KEY_TYPE_INCONSISTENT);
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_AES_CMAC }, generic))).toBe(CKR.CKR_KEY_TYPE_INCONSISTENT);
      // Not-a-cipher and not-a-MAC mechanisms.
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_SHA256_HMAC }, generic))).toBe(CKR.CKR_MECHANISM_INVALID);
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_AES_ECB }, aes))).toBe(CKR.CKR_MECHANISM_INVALID);
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_KEY_GEN }, aes))).toBe(CKR.CKR_MECHANISM_INVALID);
    });

    it('CKA_ALLOWED_MECHANISMS restricts the key to its list', () => {
      const iv = randomBytes(16);
      const key = aesKey(randomBytes(16), [{ type: CKA.CKA_ALLOWED_MECHANISMS, value: ulongs(CKM.CKM_AES_CBC_PAD, CKM.CKM_AES_CMAC) }]);
      expect(ulongOf(attrs(key, [CKA.CKA_ALLOWED_MECHANISMS])[0].subarray(8))).toBe(CKM.CKM_AES_CMAC);
      mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_CBC_PAD, parameter: iv }, key);
      mod.C_Encrypt(s, randomBytes(5), Buffer.alloc(16));
      mod.C_SignInit(s, { mechanism: CKM.CKM_AES_CMAC }, key);
      mod.C_Sign(s, randomBytes(5), Buffer.alloc(16));
      // PKCS#11 names no return code for this; like SoftHSM and kryoptic the module says CKR_MECHANISM_INVALID.
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_ECB }, key))).toBe(CKR.CKR_MECHANISM_INVALID);
      expect(ckrOf(() => mod.C_DecryptInit(s, { mechanism: CKM.CKM_AES_CBC, parameter: iv }, key))).toBe(CKR.CKR_MECHANISM_INVALID);
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_AES_CMAC_GENERAL, parameter: ulongs(8) }, key))).toBe(CKR.CKR_MECHANISM_INVALID);
      // An empty list allows everything.
      const open = aesKey(randomBytes(16), [{ type: CKA.CKA_ALLOWED_MECHANISMS, value: Buffer.alloc(0) }]);
      mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_ECB }, open);
      mod.C_Encrypt(s, randomBytes(16), Buffer.alloc(16));
    });

    // MODULE BUG. An AES key of 20 bytes (not 16/24/32) is accepted by C_CreateObject, passes the
    // min/max check in operationKey (16 <= 20 <= 32), and the backend's refusal surfaces as
    // CKR_MECHANISM_PARAM_INVALID (C_EncryptInit) or CKR_ARGUMENTS_BAD (C_SignInit, CKM_AES_CMAC).
    // PKCS#11 3.0: an AES CKA_VALUE is 16, 24 or 32 bytes (section 6.7.1), and a key of a size the
    // token cannot use is CKR_KEY_SIZE_RANGE at C_*Init (section 5.1.6); refusing the object at
    // C_CreateObject with CKR_ATTRIBUTE_VALUE_INVALID would do as well.
    it('an AES key of a size AES does not have is refused: at C_CreateObject or with CKR_KEY_SIZE_RANGE', () => {
      let key: Buffer;
      try {
        key = aesKey(randomBytes(20));
      } catch (e) {
        expect(ckrOf(() => {
          throw e;
        })).toBe(CKR.CKR_ATTRIBUTE_VALUE_INVALID);
        return;
      }
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_ECB }, key))).toBe(CKR.CKR_KEY_SIZE_RANGE);
      expect(ckrOf(() => mod.C_EncryptInit(s, gcm(randomBytes(12), undefined, 128), key))).toBe(CKR.CKR_KEY_SIZE_RANGE);
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_AES_CMAC }, key))).toBe(CKR.CKR_KEY_SIZE_RANGE);
    });

    it('a handle that is not a key is CKR_KEY_HANDLE_INVALID', () => {
      const data = mod.C_CreateObject(s, [
        { type: CKA.CKA_CLASS, value: CKO.CKO_DATA },
        { type: CKA.CKA_TOKEN, value: false },
        { type: CKA.CKA_VALUE, value: randomBytes(16) },
      ]);
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_ECB }, data))).toBe(CKR.CKR_KEY_HANDLE_INVALID);
      expect(ckrOf(() => mod.C_SignInit(s, { mechanism: CKM.CKM_SHA256_HMAC }, data))).toBe(CKR.CKR_KEY_HANDLE_INVALID);
      const gone = aesKey(randomBytes(16));
      mod.C_DestroyObject(s, gone);
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_ECB }, gone))).toBe(CKR.CKR_KEY_HANDLE_INVALID);
      expect(ckrOf(() => mod.C_VerifyInit(s, { mechanism: CKM.CKM_AES_CMAC }, gone))).toBe(CKR.CKR_KEY_HANDLE_INVALID);
      const never = Buffer.alloc(8);
      never.writeBigUInt64LE(0xdeadbeefn);
      expect(ckrOf(() => mod.C_DecryptInit(s, { mechanism: CKM.CKM_AES_ECB }, never))).toBe(CKR.CKR_KEY_HANDLE_INVALID);
    });

    it('bad GCM parameters are CKR_MECHANISM_PARAM_INVALID', () => {
      const key = aesKey(randomBytes(16));
      const iv = randomBytes(12);
      for (const tagBits of [100, 0, 24, 136, 129]) {
        expect(ckrOf(() => mod.C_EncryptInit(s, gcm(iv, undefined, tagBits), key)), `${tagBits} bits`).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      }
      expect(ckrOf(() => mod.C_EncryptInit(s, gcm(Buffer.alloc(0), undefined, 128), key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      expect(ckrOf(() => mod.C_DecryptInit(s, gcm(Buffer.alloc(0), undefined, 128), key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      // A bare IV instead of CK_GCM_PARAMS, or none.
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_GCM, parameter: iv }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      expect(ckrOf(() => mod.C_EncryptInit(s, { mechanism: CKM.CKM_AES_GCM }, key))).toBe(CKR.CKR_MECHANISM_PARAM_INVALID);
      // Every tag length the spec allows that is a whole number of bytes works.
      for (const tagBits of [32, 64, 104, 120]) {
        mod.C_EncryptInit(s, gcm(iv, undefined, tagBits), key);
        expect(mod.C_Encrypt(s, randomBytes(3), Buffer.alloc(32))).toHaveLength(3 + tagBits / 8);
      }
    });
  });
});
