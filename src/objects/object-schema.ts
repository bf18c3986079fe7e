/**
 * Which attributes each kind of object has, their defaults, and how callers
 * may touch them (PKCS#11 3.0 section 4). One schema serves C_CreateObject,
 * C_CopyObject, C_SetAttributeValue, C_GetAttributeValue and key generation.
 */
import { CKA, CKC, CKK, CKM, CKO, CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import { UNAVAILABLE, type AttributeValue } from './attribute-value';

export interface AttributeRule {
  /** Value used when the template does not give one; absent means the attribute is optional. */
  readonly default?: AttributeValue;
  /** Must be in a C_CreateObject template. */
  readonly required?: boolean;
  /** Set by the module only; naming it in any template is CKR_ATTRIBUTE_READ_ONLY. */
  readonly moduleOnly?: boolean;
  /** May be given at creation but never changed afterwards. */
  readonly fixed?: boolean;
  /** Changes may only move towards this value (CKA_SENSITIVE to true, CKA_EXTRACTABLE to false). */
  readonly onlyTowards?: boolean;
  /** Only the Security Officer may set it to true (CKA_TRUSTED). */
  readonly soOnlyTrue?: boolean;
  /** Key material: unreadable while the object is sensitive or unextractable. */
  readonly secret?: boolean;
}

export type Schema = ReadonlyMap<number, AttributeRule>;

const EMPTY = new Uint8Array(0);
const rules = (entries: [number, AttributeRule][]): [number, AttributeRule][] => entries;

const storage = (isPrivate: boolean) =>
  rules([
    [CKA.CKA_CLASS, { required: true, fixed: true }],
    [CKA.CKA_TOKEN, { default: false, fixed: true }],
    [CKA.CKA_PRIVATE, { default: isPrivate, fixed: true }],
    [CKA.CKA_MODIFIABLE, { default: true, fixed: true }],
    [CKA.CKA_COPYABLE, { default: true, onlyTowards: true }],
    [CKA.CKA_DESTROYABLE, { default: true, onlyTowards: true }],
    [CKA.CKA_LABEL, { default: EMPTY }],
    [CKA.CKA_UNIQUE_ID, { moduleOnly: true }],
  ]);

const data = rules([
  [CKA.CKA_APPLICATION, { default: EMPTY }],
  [CKA.CKA_OBJECT_ID, { default: EMPTY }],
  [CKA.CKA_VALUE, { default: EMPTY }],
]);

const certificate = rules([
  [CKA.CKA_CERTIFICATE_TYPE, { required: true, fixed: true }],
  [CKA.CKA_TRUSTED, { default: false, soOnlyTrue: true }],
  [CKA.CKA_CERTIFICATE_CATEGORY, { default: 0, fixed: true }],
  [CKA.CKA_START_DATE, { default: EMPTY }],
  [CKA.CKA_END_DATE, { default: EMPTY }],
  [CKA.CKA_PUBLIC_KEY_INFO, { default: EMPTY, fixed: true }],
]);

const x509 = rules([
  [CKA.CKA_SUBJECT, { required: true, fixed: true }],
  [CKA.CKA_ID, { default: EMPTY }],
  [CKA.CKA_ISSUER, { default: EMPTY, fixed: true }],
  [CKA.CKA_SERIAL_NUMBER, { default: EMPTY, fixed: true }],
  [CKA.CKA_VALUE, { required: true, fixed: true }],
  [CKA.CKA_URL, { default: EMPTY, fixed: true }],
  [CKA.CKA_HASH_OF_SUBJECT_PUBLIC_KEY, { default: EMPTY, fixed: true }],
  [CKA.CKA_HASH_OF_ISSUER_PUBLIC_KEY, { default: EMPTY, fixed: true }],
  [CKA.CKA_JAVA_MIDP_SECURITY_DOMAIN, { default: 0, fixed: true }],
  [CKA.CKA_NAME_HASH_ALGORITHM, { default: CKM.CKM_SHA_1, fixed: true }],
]);

const key = rules([
  [CKA.CKA_KEY_TYPE, { required: true, fixed: true }],
  [CKA.CKA_ID, { default: EMPTY }],
  [CKA.CKA_START_DATE, { default: EMPTY }],
  [CKA.CKA_END_DATE, { default: EMPTY }],
  [CKA.CKA_DERIVE, { default: false }],
  [CKA.CKA_LOCAL, { default: false, moduleOnly: true }],
  [CKA.CKA_KEY_GEN_MECHANISM, { default: UNAVAILABLE, moduleOnly: true }],
  [CKA.CKA_ALLOWED_MECHANISMS, { fixed: true }],
  [CKA.CKA_VENDOR_FIPS_APPROVED, { default: false, moduleOnly: true }],
]);

const publicKey = rules([
  [CKA.CKA_SUBJECT, { default: EMPTY }],
  [CKA.CKA_ENCRYPT, { default: true }],
  [CKA.CKA_VERIFY, { default: true }],
  [CKA.CKA_VERIFY_RECOVER, { default: true }],
  [CKA.CKA_WRAP, { default: true }],
  [CKA.CKA_TRUSTED, { default: false, soOnlyTrue: true }],
  [CKA.CKA_WRAP_TEMPLATE, { fixed: true }],
  [CKA.CKA_PUBLIC_KEY_INFO, { default: EMPTY, fixed: true }],
]);

const sensitiveKey = rules([
  [CKA.CKA_SENSITIVE, { default: true, onlyTowards: true }],
  [CKA.CKA_EXTRACTABLE, { default: false, onlyTowards: true }],
  [CKA.CKA_ALWAYS_SENSITIVE, { moduleOnly: true }],
  [CKA.CKA_NEVER_EXTRACTABLE, { moduleOnly: true }],
  [CKA.CKA_WRAP_WITH_TRUSTED, { default: false, onlyTowards: true }],
  [CKA.CKA_UNWRAP_TEMPLATE, { fixed: true }],
  [CKA.CKA_DECRYPT, { default: true }],
  [CKA.CKA_SIGN, { default: true }],
  [CKA.CKA_UNWRAP, { default: true }],
]);

const privateKey = rules([
  [CKA.CKA_SUBJECT, { default: EMPTY }],
  [CKA.CKA_SIGN_RECOVER, { default: true }],
  [CKA.CKA_ALWAYS_AUTHENTICATE, { default: false }],
  [CKA.CKA_PUBLIC_KEY_INFO, { default: EMPTY, fixed: true }],
]);

const secretKey = rules([
  [CKA.CKA_ENCRYPT, { default: true }],
  [CKA.CKA_VERIFY, { default: true }],
  [CKA.CKA_WRAP, { default: true }],
  [CKA.CKA_TRUSTED, { default: false, soOnlyTrue: true }],
  [CKA.CKA_WRAP_TEMPLATE, { fixed: true }],
  [CKA.CKA_DERIVE_TEMPLATE, { fixed: true }],
  [CKA.CKA_CHECK_VALUE, { fixed: true }], // set by completeSecretKey where the key type defines it
  [CKA.CKA_VALUE, { required: true, fixed: true, secret: true }],
  [CKA.CKA_VALUE_LEN, { moduleOnly: true }],
]);

const secret = { required: true, fixed: true, secret: true };
const publicPart = { required: true, fixed: true };
const optionalSecret = { fixed: true, secret: true };

/** Key-type attributes, per object class. */
const keyTypeAttributes = new Map<number, { public: [number, AttributeRule][]; private: [number, AttributeRule][] }>([
  [
    CKK.CKK_RSA,
    {
      public: rules([
        [CKA.CKA_MODULUS, publicPart],
        [CKA.CKA_PUBLIC_EXPONENT, publicPart],
        [CKA.CKA_MODULUS_BITS, { moduleOnly: true }],
      ]),
      private: rules([
        [CKA.CKA_MODULUS, publicPart],
        [CKA.CKA_PUBLIC_EXPONENT, { fixed: true }],
        [CKA.CKA_PRIVATE_EXPONENT, secret],
        [CKA.CKA_PRIME_1, optionalSecret],
        [CKA.CKA_PRIME_2, optionalSecret],
        [CKA.CKA_EXPONENT_1, optionalSecret],
        [CKA.CKA_EXPONENT_2, optionalSecret],
        [CKA.CKA_COEFFICIENT, optionalSecret],
      ]),
    },
  ],
  ...[CKK.CKK_EC, CKK.CKK_EC_EDWARDS, CKK.CKK_EC_MONTGOMERY].map(
    (k) =>
      [
        k,
        {
          public: rules([
            [CKA.CKA_EC_PARAMS, publicPart],
            [CKA.CKA_EC_POINT, publicPart],
          ]),
          private: rules([
            [CKA.CKA_EC_PARAMS, publicPart],
            [CKA.CKA_VALUE, secret],
          ]),
        },
      ] as const,
  ),
]);

/** Secret key types whose only key-specific attributes are CKA_VALUE and CKA_VALUE_LEN. */
const VALUE_SECRET_KEY_TYPES = new Set<number>([
  CKK.CKK_GENERIC_SECRET,
  CKK.CKK_AES,
  CKK.CKK_SHA_1_HMAC,
  CKK.CKK_SHA224_HMAC,
  CKK.CKK_SHA256_HMAC,
  CKK.CKK_SHA384_HMAC,
  CKK.CKK_SHA512_HMAC,
  CKK.CKK_SHA3_224_HMAC,
  CKK.CKK_SHA3_256_HMAC,
  CKK.CKK_SHA3_384_HMAC,
  CKK.CKK_SHA3_512_HMAC,
  CKK.CKK_HKDF,
]);

const CLASSES = new Set<number>([CKO.CKO_DATA, CKO.CKO_CERTIFICATE, CKO.CKO_PUBLIC_KEY, CKO.CKO_PRIVATE_KEY, CKO.CKO_SECRET_KEY]);

/**
 * The schema for an object of this class (and key or certificate type). An
 * unsupported class or type is CKR_TEMPLATE_INCONSISTENT... except where the
 * spec names a more precise code.
 */
export function schemaFor(objectClass: number, subtype: number | undefined): Schema {
  if (!CLASSES.has(objectClass)) throw new CkError(CKR.CKR_ATTRIBUTE_VALUE_INVALID, `unsupported object class ${objectClass}`);
  const entries: [number, AttributeRule][] = [];
  switch (objectClass) {
    case CKO.CKO_DATA:
      entries.push(...storage(false), ...data);
      break;
    case CKO.CKO_CERTIFICATE:
      if (subtype === undefined) throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_CERTIFICATE_TYPE missing');
      if (subtype !== CKC.CKC_X_509) throw new CkError(CKR.CKR_ATTRIBUTE_VALUE_INVALID, `unsupported certificate type ${subtype}`);
      entries.push(...storage(false), ...certificate, ...x509);
      break;
    case CKO.CKO_PUBLIC_KEY:
    case CKO.CKO_PRIVATE_KEY: {
      if (subtype === undefined) throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_KEY_TYPE missing');
      const specific = keyTypeAttributes.get(subtype);
      if (!specific) throw new CkError(CKR.CKR_KEY_TYPE_INCONSISTENT, `unsupported key type ${subtype}`);
      const isPublic = objectClass === CKO.CKO_PUBLIC_KEY;
      entries.push(...storage(!isPublic), ...key);
      entries.push(...(isPublic ? publicKey : [...sensitiveKey, ...privateKey]));
      entries.push(...(isPublic ? specific.public : specific.private));
      break;
    }
    case CKO.CKO_SECRET_KEY:
      if (subtype === undefined) throw new CkError(CKR.CKR_TEMPLATE_INCOMPLETE, 'CKA_KEY_TYPE missing');
      if (!VALUE_SECRET_KEY_TYPES.has(subtype)) throw new CkError(CKR.CKR_KEY_TYPE_INCONSISTENT, `unsupported key type ${subtype}`);
      entries.push(...storage(true), ...key, ...sensitiveKey, ...secretKey);
      break;
  }
  return new Map(entries);
}

/** The attribute that selects the subtype of a class, if any. */
export function subtypeAttribute(objectClass: number): number | undefined {
  if (objectClass === CKO.CKO_CERTIFICATE) return CKA.CKA_CERTIFICATE_TYPE;
  if (objectClass === CKO.CKO_PUBLIC_KEY || objectClass === CKO.CKO_PRIVATE_KEY || objectClass === CKO.CKO_SECRET_KEY) return CKA.CKA_KEY_TYPE;
  return undefined;
}
