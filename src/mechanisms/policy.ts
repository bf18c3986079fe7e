/**
 * The algorithm policy of craton_hsm.toml's [algorithms] (docs/FIPS.md): which
 * mechanisms are offered (approved-only mode, SHA-1 signing, post-quantum),
 * which keys they may use (RSA below 2048 bits, curves, key sizes), and
 * whether an operation is FIPS-approved, the algorithm indicator of IG 2.4.C.
 * The approved table itself is each mechanism's `fipsApproved`.
 */
import { CKA, CKK, CKM, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { KeyPairParams } from '../backends/asymmetric';
import type { AlgorithmSettings } from '../config/config';
import type { AttributeMap } from '../objects/attribute-value';
import { curveNamedBy } from '../objects/ec-params';
import type { MechanismSpec } from './mechanism';

/** Signature mechanisms that hash with SHA-1 themselves. */
const SHA1_SIGNING = new Set<number>([CKM.CKM_SHA1_RSA_PKCS, CKM.CKM_SHA1_RSA_PKCS_PSS, CKM.CKM_ECDSA_SHA1]);

const APPROVED_RSA_BITS = new Set([2048, 3072, 4096]);
const APPROVED_CURVES = new Set<string>(['P-256', 'P-384']);
const APPROVED_AES_BYTES = new Set([16, 24, 32]);
/** SP 800-131A: HMAC keys of at least 112 bits. */
const MIN_HMAC_KEY_BYTES = 14;
/** Below this an RSA key is weak: refused unless allow_weak_rsa is set (never in approved-only mode). */
const MIN_STRONG_RSA_BITS = 2048;

/** Bits of a big-endian unsigned integer. */
function bitLength(n: Uint8Array): number {
  let i = 0;
  while (i < n.length && n[i] === 0) i++;
  if (i === n.length) return 0;
  return (n.length - i - 1) * 8 + (32 - Math.clz32(n[i] as number));
}

/** What a key is, as far as approval goes. */
type KeyShape =
  | { readonly kind: 'rsa'; readonly bits: number }
  | { readonly kind: 'ec'; readonly curve: string }
  | { readonly kind: 'secret'; readonly keyType: number; readonly bytes: number }
  | { readonly kind: 'other' };

function shapeOf(attrs: AttributeMap): KeyShape {
  const keyType = attrs.get(CKA.CKA_KEY_TYPE);
  const modulus = attrs.get(CKA.CKA_MODULUS);
  const ecParams = attrs.get(CKA.CKA_EC_PARAMS);
  const value = attrs.get(CKA.CKA_VALUE);
  if (keyType === CKK.CKK_RSA && modulus instanceof Uint8Array) return { kind: 'rsa', bits: bitLength(modulus) };
  if (keyType === CKK.CKK_EC && ecParams instanceof Uint8Array) return { kind: 'ec', curve: curveNamedBy('ec', ecParams) };
  if (attrs.get(CKA.CKA_CLASS) === CKO.CKO_SECRET_KEY && typeof keyType === 'number' && value instanceof Uint8Array) return { kind: 'secret', keyType, bytes: value.length };
  return { kind: 'other' };
}

function paramsShape(params: KeyPairParams): KeyShape {
  switch (params.type) {
    case 'rsa': return { kind: 'rsa', bits: params.bits };
    case 'ec': return { kind: 'ec', curve: params.curve };
    default: return { kind: 'other' };
  }
}

export class AlgorithmPolicy {
  constructor(readonly settings: AlgorithmSettings) {}

  get approvedOnly(): boolean {
    return this.settings.fipsApprovedOnly;
  }

  /** Whether C_GetMechanismList lists the mechanism and C_*Init accepts it. */
  offers(spec: MechanismSpec): boolean {
    if (this.settings.fipsApprovedOnly && !spec.fipsApproved) return false;
    if (!this.settings.allowSha1Signing && SHA1_SIGNING.has(spec.type)) return false;
    return true;
  }

  /** CK_MECHANISM_INFO's key sizes as this policy narrows them (RSA in bits, EC field bits, secret keys in bytes). */
  keySizes(spec: MechanismSpec): { readonly min: number; readonly max: number } {
    const family = keyFamily(spec);
    const fips = this.settings.fipsApprovedOnly;
    if (family === CKK.CKK_RSA) {
      const min = fips || !this.settings.allowWeakRsa ? MIN_STRONG_RSA_BITS : spec.minKeySize;
      return { min, max: fips ? Math.max(...APPROVED_RSA_BITS) : spec.maxKeySize };
    }
    if (family === CKK.CKK_EC && fips) return { min: 256, max: 384 };
    if (family === CKK.CKK_GENERIC_SECRET && fips) {
      // Generic secret generation states its sizes in bits, the HMAC mechanisms in bytes.
      const min = spec.generateKey || spec.keySizeInBits ? MIN_HMAC_KEY_BYTES * 8 : MIN_HMAC_KEY_BYTES;
      return { min: Math.max(spec.minKeySize, min), max: spec.maxKeySize };
    }
    return { min: spec.minKeySize, max: spec.maxKeySize };
  }

  /** A signature scheme chosen by the mechanism parameter (PSS's hashAlg) may not be SHA-1 unless allowed. */
  checkSignatureHash(digest: string | undefined): void {
    require(this.settings.allowSha1Signing || digest !== 'sha1', CKR.CKR_MECHANISM_PARAM_INVALID, 'SHA-1 signing is not allowed (algorithms.allow_sha1_signing)');
  }

  /**
   * Checks a key at C_*Init (and wherever a key is used) and returns the
   * algorithm indicator: an approved mechanism with a key of approved type and size.
   */
  keyUse(spec: MechanismSpec, key: AttributeMap): boolean {
    return this.check(spec, shapeOf(key));
  }

  /** Checks the parameters of a key-pair generation; returns whether the new pair is approved. */
  keyPairGeneration(spec: MechanismSpec, params: KeyPairParams): boolean {
    return this.check(spec, paramsShape(params));
  }

  /** Checks a secret-key generation of `bytes` bytes; returns whether the new key is approved. */
  secretKeyGeneration(spec: MechanismSpec, keyType: number, bytes: number): boolean {
    return this.check(spec, { kind: 'secret', keyType, bytes });
  }

  /** Whether a key of these attributes is of an approved type and size (CKA_VENDOR_FIPS_APPROVED for an imported key). */
  keyApproved(key: AttributeMap): boolean {
    return approvedShape(shapeOf(key));
  }

  private check(spec: MechanismSpec, shape: KeyShape): boolean {
    if (shape.kind === 'rsa' && shape.bits < MIN_STRONG_RSA_BITS) {
      require(this.settings.allowWeakRsa && !this.settings.fipsApprovedOnly, CKR.CKR_KEY_SIZE_RANGE, `RSA keys below ${MIN_STRONG_RSA_BITS} bits are not allowed (algorithms.allow_weak_rsa)`);
    }
    const approved = spec.fipsApproved && approvedShape(shape);
    if (this.settings.fipsApprovedOnly && !approved) throw new CkError(rejection(shape), 'not allowed in approved-only mode');
    return approved;
  }
}

/** The key type whose sizes a mechanism's CK_MECHANISM_INFO reports. */
function keyFamily(spec: MechanismSpec): number | undefined {
  return spec.generateKeyPair?.keyType ?? spec.generateKey?.keyType ?? spec.keyTypes?.[0];
}

function approvedShape(shape: KeyShape): boolean {
  switch (shape.kind) {
    case 'rsa': return APPROVED_RSA_BITS.has(shape.bits);
    case 'ec': return APPROVED_CURVES.has(shape.curve);
    case 'secret': return shape.keyType === CKK.CKK_AES ? APPROVED_AES_BYTES.has(shape.bytes) : shape.bytes >= MIN_HMAC_KEY_BYTES;
    case 'other': return false;
  }
}

/** The CK_RV for an approved mechanism whose key is not approved. */
function rejection(shape: KeyShape): number {
  switch (shape.kind) {
    case 'ec': return CKR.CKR_CURVE_NOT_SUPPORTED;
    case 'other': return CKR.CKR_KEY_TYPE_INCONSISTENT;
    default: return CKR.CKR_KEY_SIZE_RANGE;
  }
}
