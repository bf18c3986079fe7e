/** What each mechanism family file declares about its mechanisms. */
import type { KeyPairParams, RsaEncryptionParams, SignatureParams } from '../backends/asymmetric';
import type { CryptoBackend, DigestAlgorithm } from '../backends/backend';
import type { CipherSpec, MacSpec } from '../backends/symmetric';
import type { AttributeMap } from '../objects/attribute-value';
import type { WireAttribute, WireParam, Writeback } from '../wire/codec';

/** A MAC as a mechanism uses it: the backend MAC and how many bytes of it to keep. */
export interface MacUse {
  readonly spec: MacSpec;
  readonly length: number;
}

/** Secret-key generation (C_GenerateKey): which key type it makes and how long its value is. */
export interface SecretKeyGeneration {
  /** The key type it makes; absent when the template chooses it (CKM_PKCS5_PBKD2 makes any type). */
  readonly keyType?: number;
  /** The value length in bytes from the template's CKA_VALUE_LEN; throws the spec's CK_RV when unusable. */
  valueLength(valueLen: number | undefined): number;
  /**
   * For mechanisms whose parameter determines the value (a password-based key):
   * reads the parameter (throwing CKR_MECHANISM_PARAM_INVALID) and returns how
   * to compute the value. Without it the value is random and no parameter is taken.
   */
  fromParam?(param: WireParam): (backend: CryptoBackend, length: number) => Promise<Uint8Array>;
}

/**
 * A signature scheme as a mechanism uses it. With `digest`, the mechanism
 * hashes the data itself (multi-part input is hashed as it arrives) and
 * `params` then sign the finished hash; without it the data is signed as given.
 */
export interface SignatureUse {
  readonly params: SignatureParams;
  readonly digest?: DigestAlgorithm;
}

/** Key-pair generation (C_GenerateKeyPair): the key type it makes and the backend parameters from the templates. */
export interface KeyPairGeneration {
  readonly keyType: number;
  /** Attributes of the public template that describe the key (CKA_MODULUS_BITS...), consumed here. */
  params(publicTemplate: AttributeMap): KeyPairParams;
}

/** ECDH as a mechanism uses it (PKCS#11 3.0 section 2.3.14). */
export interface KeyAgreement {
  /** The other party's public point or key, raw or DER-wrapped. */
  readonly peerPublic: Uint8Array;
  /** Turns the shared secret Z into `length` bytes of key material (CKD_NULL: Z itself, cut). */
  kdf(backend: CryptoBackend, z: Uint8Array, length: number): Uint8Array;
}

/** A further key a derivation makes (SP800-108's CK_DERIVED_KEY): its template, and how its handle reaches the caller. */
export interface AdditionalKey {
  readonly template: readonly WireAttribute[];
  /** The write-back into the caller's mechanism parameter that hands out the new key's handle. */
  handleWriteback(handle: number): Writeback;
}

/**
 * Derivation from a secret base key (C_DeriveKey): HKDF, key derivation by
 * data encryption, SP800-108. The handler checks the base key and the
 * templates; this computes the values.
 */
export interface SecretDerivation {
  /** The derived object's class: CKO_SECRET_KEY, or CKO_DATA for CKM_HKDF_DATA. */
  readonly objectClass: number;
  /** Whether the base may be a data object rather than a key (HKDF extracting with a salt). */
  readonly baseMayBeData: boolean;
  /** Handle of a second secret key whose value the derivation reads (the HKDF salt key). */
  readonly otherKey?: number;
  /** Bytes produced when the template has no CKA_VALUE_LEN; absent makes CKA_VALUE_LEN required. */
  readonly defaultLength?: number;
  /** Key types the base key may have with this parameter (the PRF's), when narrower than the mechanism's. */
  readonly baseKeyTypes?: readonly number[];
  /** Keys made besides the one C_DeriveKey's template defines: all of them are made, or none. */
  readonly additionalKeys?: readonly AdditionalKey[];
  /** Whether a template without CKA_SENSITIVE or CKA_EXTRACTABLE takes the base key's value (SP800-108's attribute rules). */
  readonly inheritsProtection?: boolean;
  /**
   * The new values from the base value (and the second key's value): `lengths[0]`
   * bytes for the object C_DeriveKey's template defines, then one per additional key.
   */
  derive(backend: CryptoBackend, base: Uint8Array, lengths: DerivedLengths, otherKey?: Uint8Array): Uint8Array[];
}

/** The value length of each object a derivation makes, the main one first. */
export type DerivedLengths = readonly [number, ...number[]];

/**
 * One message's parameter for the message functions (CK_GCM_MESSAGE_PARAMS,
 * CK_CCM_MESSAGE_PARAMS), with the IV (nonce) and tag (MAC) fields named so
 * that what the module produces can be written back into them.
 */
export interface AeadMessageParams {
  /** The IV field as given: the whole IV, or (when the module generates one) its fixed leading bits and its length. */
  readonly iv: Uint8Array;
  readonly ivField: string;
  readonly ivFixedBits: number;
  /** CKG_NO_GENERATE, CKG_GENERATE... (encryption only; decryption takes the IV as given). */
  readonly ivGenerator: number;
  /** The tag buffer as given (decryption reads the tag from it); null for a NULL pointer. */
  readonly tag: Uint8Array | null;
  readonly tagField: string;
  readonly tagLength: number;
  /** The backend cipher for one message with this IV and associated data. */
  cipher(key: Uint8Array, iv: Uint8Array, aad: Uint8Array): CipherSpec;
}

export interface MechanismSpec {
  readonly type: number;
  /** CK_MECHANISM_INFO: key sizes in the unit the spec gives for this mechanism (bits or bytes). */
  readonly minKeySize: number;
  readonly maxKeySize: number;
  /** Set where the spec gives a secret key mechanism's sizes in bits (most give bytes). */
  readonly keySizeInBits?: boolean;
  /** CK_MECHANISM_INFO flags (CKF_DIGEST, CKF_SIGN, ...). */
  readonly flags: number;
  /** Whether the mechanism is FIPS-approved for the operations it offers. */
  readonly fipsApproved: boolean;
  /** The key types this mechanism works with (operations other than generation). */
  readonly keyTypes?: readonly number[];
  /** For digest mechanisms: the backend algorithm. */
  readonly digest?: DigestAlgorithm;
  /** For secret-key generation mechanisms. */
  readonly generateKey?: SecretKeyGeneration;
  /** For ciphers: the backend cipher for this key and mechanism parameter (throws CKR_MECHANISM_PARAM_INVALID). */
  cipher?(key: Uint8Array, param: WireParam): CipherSpec;
  /** For MACs: the backend MAC for this key and parameter. */
  mac?(key: Uint8Array, param: WireParam): MacUse;
  /** For public-key signatures: the scheme for this parameter (throws CKR_MECHANISM_PARAM_INVALID). */
  signature?(param: WireParam): SignatureUse;
  /** For key-pair generation mechanisms. */
  readonly generateKeyPair?: KeyPairGeneration;
  /** For RSA encryption: the padding for this parameter (single-part, off the JS thread). */
  rsaEncryption?(param: WireParam): RsaEncryptionParams;
  /** For key agreement (C_DeriveKey): the peer's public value and how the shared secret becomes key material. */
  agreement?(param: WireParam): KeyAgreement;
  /** For derivation from a secret (C_DeriveKey). */
  secretDerivation?(param: WireParam): SecretDerivation;
  /** For the message-based functions (CKF_MESSAGE_ENCRYPT / CKF_MESSAGE_DECRYPT): one message's parameter. */
  messageCipher?(param: WireParam): AeadMessageParams;
  /** For block modes without padding: C_WrapKey pads the key value with zero bytes to this multiple. */
  readonly wrapPadding?: number;
  /** For AES key wrap (RFC 3394, or RFC 5649 when padded): single-part encryption and key wrapping. */
  keyWrap?(param: WireParam): { readonly padded: boolean };
}

export interface MechanismFamily {
  readonly name: string;
  readonly mechanisms: readonly MechanismSpec[];
}
