/**
 * AES (PKCS#11 3.0 section 6.7-6.8 and 6.11-6.13): key generation, ECB, CBC,
 * CBC_PAD, CTR, GCM, CCM, key wrap, CMAC and key derivation by data encryption;
 * GCM and CCM also per message (C_EncryptMessage and the rest of sections 5.9, 5.11).
 */
import { CKF_MECH, CKK, CKM, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import { cipherOnce, type CipherSpec } from '../backends/symmetric';
import { ValueKind, type WireParam } from '../wire/codec';
import type { AeadMessageParams, MechanismFamily, MechanismSpec } from './mechanism';
import { bytesField, noParam, rawParam, structParam, ulongField, type Fields } from './params';

const AES = [CKK.CKK_AES];
const CIPHER_FLAGS = CKF_MECH.CKF_ENCRYPT | CKF_MECH.CKF_DECRYPT;
/** ECB, CBC, CBC_PAD, GCM and CCM also wrap and unwrap keys. */
const WRAPPING_FLAGS = CIPHER_FLAGS | CKF_MECH.CKF_WRAP | CKF_MECH.CKF_UNWRAP;
/** The AEAD modes also offer the message functions, messages in parts included. */
const AEAD_FLAGS = WRAPPING_FLAGS | CKF_MECH.CKF_MESSAGE_ENCRYPT | CKF_MECH.CKF_MESSAGE_DECRYPT | CKF_MECH.CKF_MULTI_MESSAGE;

const sizes = { minKeySize: 16, maxKeySize: 32 };

/** Seed 004's approved table has CBC, CTR, GCM and key wrap; ECB, CCM and CMAC are offered outside approved-only mode. */
function cipher(type: number, build: (key: Uint8Array, param: Parameters<NonNullable<MechanismSpec['cipher']>>[1]) => CipherSpec, flags = CIPHER_FLAGS, fipsApproved = true): MechanismSpec {
  return { type, ...sizes, flags, fipsApproved, keyTypes: AES, cipher: build };
}

function keyWrap(type: number, padded: boolean, defaultIv: string): MechanismSpec {
  return {
    type,
    ...sizes,
    flags: CIPHER_FLAGS | CKF_MECH.CKF_WRAP | CKF_MECH.CKF_UNWRAP,
    fipsApproved: true,
    keyTypes: AES,
    keyWrap(param) {
      if (param.kind !== ValueKind.Null && param.length !== 0) {
        require(Buffer.from(rawParam(param)).toString('hex') === defaultIv, CKR.CKR_MECHANISM_PARAM_INVALID, 'only the default IV is supported');
      }
      return { padded };
    },
  };
}

/**
 * Key derivation by data encryption ("Key derivation by data encryption - AES"): the new value is the
 * encryption of the parameter's data (a multiple of 16 bytes) under the base
 * key, cut to CKA_VALUE_LEN when the template gives it.
 */
function encryptData(type: number, read: (param: WireParam) => { data: Uint8Array; iv?: Uint8Array }): MechanismSpec {
  return {
    type,
    ...sizes,
    flags: CKF_MECH.CKF_DERIVE,
    fipsApproved: false,
    keyTypes: AES,
    secretDerivation(param) {
      const { data, iv } = read(param);
      require(data.length > 0 && data.length % 16 === 0, CKR.CKR_MECHANISM_PARAM_INVALID, 'the data must be a non-empty multiple of 16 bytes');
      return {
        objectClass: CKO.CKO_SECRET_KEY,
        baseMayBeData: false,
        defaultLength: data.length,
        derive(backend, key, [length]) {
          require(length <= data.length, CKR.CKR_TEMPLATE_INCONSISTENT, 'CKA_VALUE_LEN exceeds the encrypted data');
          const spec: CipherSpec = iv ? { algorithm: 'aes', mode: 'cbc', key, iv } : { algorithm: 'aes', mode: 'ecb', key };
          return [cipherOnce(backend, spec, true, data).subarray(0, length)];
        },
      };
    },
  };
}

/** GCM and CCM tag lengths are given in bits (GCM) or bytes (CCM); both allow 4 to 16 bytes. */
function tagBytes(bits: number): number {
  require(bits % 8 === 0 && bits >= 32 && bits <= 128, CKR.CKR_MECHANISM_PARAM_INVALID, 'tag length must be 32 to 128 bits');
  return bits / 8;
}

function gcmIv(iv: Uint8Array): Uint8Array {
  require(iv.length >= 1 && iv.length <= 128, CKR.CKR_MECHANISM_PARAM_INVALID, 'the IV must be 1 to 128 bytes');
  return iv;
}

function ccmNonce(nonce: Uint8Array): Uint8Array {
  require(nonce.length >= 7 && nonce.length <= 13, CKR.CKR_MECHANISM_PARAM_INVALID, 'the nonce must be 7 to 13 bytes');
  return nonce;
}

/** A pointer field that may be NULL. */
function optionalBytes(fields: Fields, name: string): Uint8Array | null {
  const v = fields[name];
  return v instanceof Uint8Array ? v : null;
}

function gcmMessageParams(param: WireParam): AeadMessageParams {
  const f = structParam(param, 'CK_GCM_MESSAGE_PARAMS');
  const tagLength = tagBytes(ulongField(f, 'ulTagBits'));
  return {
    iv: gcmIv(bytesField(f, 'pIv')),
    ivField: 'pIv',
    ivFixedBits: ulongField(f, 'ulIvFixedBits'),
    ivGenerator: ulongField(f, 'ivGenerator'),
    tag: optionalBytes(f, 'pTag'),
    tagField: 'pTag',
    tagLength,
    cipher: (key, iv, aad) => ({ algorithm: 'aes', mode: 'gcm', key, iv, aad, tagLength }),
  };
}

function ccmMessageParams(param: WireParam): AeadMessageParams {
  const f = structParam(param, 'CK_CCM_MESSAGE_PARAMS');
  const tagLength = tagBytes(ulongField(f, 'ulMACLen') * 8);
  const dataLength = ulongField(f, 'ulDataLen');
  return {
    iv: ccmNonce(bytesField(f, 'pNonce')),
    ivField: 'pNonce',
    ivFixedBits: ulongField(f, 'ulNonceFixedBits'),
    ivGenerator: ulongField(f, 'nonceGenerator'),
    tag: optionalBytes(f, 'pMAC'),
    tagField: 'pMAC',
    tagLength,
    cipher: (key, nonce, aad) => ({ algorithm: 'aes', mode: 'ccm', key, nonce, aad, tagLength, dataLength }),
  };
}

export const aesFamily: MechanismFamily = {
  name: 'aes',
  mechanisms: [
    {
      type: CKM.CKM_AES_KEY_GEN,
      ...sizes,
      flags: CKF_MECH.CKF_GENERATE,
      fipsApproved: true,
      generateKey: {
        keyType: CKK.CKK_AES,
        valueLength(valueLen) {
          if (valueLen === undefined) throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_VALUE_LEN is required');
          require([16, 24, 32].includes(valueLen), CKR.CKR_KEY_SIZE_RANGE, 'AES keys are 16, 24 or 32 bytes');
          return valueLen;
        },
      },
    },
    {
      ...cipher(
        CKM.CKM_AES_ECB,
        (key, param) => {
          noParam(param);
          return { algorithm: 'aes', mode: 'ecb', key };
        },
        WRAPPING_FLAGS,
        false,
      ),
      wrapPadding: 16,
    },
    { ...cipher(CKM.CKM_AES_CBC, (key, param) => ({ algorithm: 'aes', mode: 'cbc', key, iv: rawParam(param, [16]) }), WRAPPING_FLAGS), wrapPadding: 16 },
    cipher(CKM.CKM_AES_CBC_PAD, (key, param) => ({ algorithm: 'aes', mode: 'cbc-pad', key, iv: rawParam(param, [16]) }), WRAPPING_FLAGS),
    cipher(CKM.CKM_AES_CTR, (key, param) => {
      const f = structParam(param, 'CK_AES_CTR_PARAMS');
      const counterBits = ulongField(f, 'ulCounterBits');
      require(counterBits >= 1 && counterBits <= 128, CKR.CKR_MECHANISM_PARAM_INVALID, 'ulCounterBits must be 1 to 128');
      return { algorithm: 'aes', mode: 'ctr', key, iv: bytesField(f, 'cb'), counterBits };
    }),
    {
      ...cipher(CKM.CKM_AES_GCM, (key, param) => {
        const f = structParam(param, 'CK_GCM_PARAMS');
        return { algorithm: 'aes', mode: 'gcm', key, iv: gcmIv(bytesField(f, 'pIv')), aad: bytesField(f, 'pAAD'), tagLength: tagBytes(ulongField(f, 'ulTagBits')) };
      }),
      flags: AEAD_FLAGS,
      messageCipher: gcmMessageParams,
    },
    {
      ...cipher(CKM.CKM_AES_CCM, (key, param) => {
        const f = structParam(param, 'CK_CCM_PARAMS');
        return {
          algorithm: 'aes',
          mode: 'ccm',
          key,
          nonce: ccmNonce(bytesField(f, 'pNonce')),
          aad: bytesField(f, 'pAAD'),
          tagLength: tagBytes(ulongField(f, 'ulMACLen') * 8),
          dataLength: ulongField(f, 'ulDataLen'),
        };
      }, CIPHER_FLAGS, false),
      flags: AEAD_FLAGS,
      messageCipher: ccmMessageParams,
    },
    encryptData(CKM.CKM_AES_ECB_ENCRYPT_DATA, (param) => ({ data: bytesField(structParam(param, 'CK_KEY_DERIVATION_STRING_DATA'), 'pData') })),
    encryptData(CKM.CKM_AES_CBC_ENCRYPT_DATA, (param) => {
      const f = structParam(param, 'CK_AES_CBC_ENCRYPT_DATA_PARAMS');
      return { data: bytesField(f, 'pData'), iv: bytesField(f, 'iv') };
    }),
    // A parameter, when given, is the RFC's default IV; other IVs are not offered.
    keyWrap(CKM.CKM_AES_KEY_WRAP, false, 'a6a6a6a6a6a6a6a6'),
    keyWrap(CKM.CKM_AES_KEY_WRAP_KWP, true, 'a65959a6'),
    {
      type: CKM.CKM_AES_CMAC,
      ...sizes,
      flags: CKF_MECH.CKF_SIGN | CKF_MECH.CKF_VERIFY,
      fipsApproved: false,
      keyTypes: AES,
      mac(key, param) {
        noParam(param);
        return { spec: { algorithm: 'cmac', key }, length: 16 };
      },
    },
    {
      type: CKM.CKM_AES_CMAC_GENERAL,
      ...sizes,
      flags: CKF_MECH.CKF_SIGN | CKF_MECH.CKF_VERIFY,
      fipsApproved: false,
      keyTypes: AES,
      mac(key, param) {
        const length = ulongField(structParam(param, 'CK_MAC_GENERAL_PARAMS'), 'ulLength');
        require(length >= 1 && length <= 16, CKR.CKR_MECHANISM_PARAM_INVALID, 'CMAC length must be 1 to 16 bytes');
        return { spec: { algorithm: 'cmac', key }, length };
      },
    },
  ],
};
