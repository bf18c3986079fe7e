/**
 * Key-pair objects and the backend's native key handles: the attributes a
 * generated key pair gets (PKCS#11 3.0 sections 2.1 and 2.3), and a cache
 * that imports an object's key material into a native handle once and keeps
 * it, instead of re-parsing the key on every operation.
 */
import { CKA, CKK, CKO, CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { AsymmetricKey, EcCurve, KeyComponents } from '../backends/asymmetric';
import type { CryptoBackend } from '../backends/backend';
import type { AttributeMap, AttributeValue } from './attribute-value';
import { curveByteLength, curveOf, ecParamsOf, edwardsCurveOf, montgomeryCurveOf, publicBytes, rawPublicLengths, wrapPoint } from './ec-params';
import type { P11Object } from './object-table';

/**
 * The key-material attributes of each half of a generated pair. ecParams is
 * the public template's CKA_EC_PARAMS, which both halves keep as the caller
 * named the curve (OID or name).
 */
export function pairAttributes(backend: CryptoBackend, key: AsymmetricKey, ecParams?: Uint8Array): { publicPart: AttributeMap; privatePart: AttributeMap } {
  const spki = backend.publicKeyInfo(key);
  // The private components include the public ones: one export serves both halves.
  const priv = backend.exportPrivateKey(key);
  const map = (...e: [number, AttributeValue][]): AttributeMap => new Map(e);
  if (priv.type === 'rsa') {
    return {
      publicPart: map([CKA.CKA_MODULUS, priv.modulus], [CKA.CKA_PUBLIC_EXPONENT, priv.publicExponent], [CKA.CKA_MODULUS_BITS, key.bits], [CKA.CKA_PUBLIC_KEY_INFO, spki]),
      privatePart: map(
        [CKA.CKA_MODULUS, priv.modulus],
        [CKA.CKA_PUBLIC_EXPONENT, priv.publicExponent],
        [CKA.CKA_PRIVATE_EXPONENT, priv.privateExponent],
        [CKA.CKA_PRIME_1, priv.prime1],
        [CKA.CKA_PRIME_2, priv.prime2],
        [CKA.CKA_EXPONENT_1, priv.exponent1],
        [CKA.CKA_EXPONENT_2, priv.exponent2],
        [CKA.CKA_COEFFICIENT, priv.coefficient],
        [CKA.CKA_PUBLIC_KEY_INFO, spki],
      ),
    };
  }
  const params = ecParams ?? ecParamsOf(priv.curve);
  const point = priv.type === 'ec' ? priv.point : priv.publicKey;
  const secret = priv.type === 'ec' ? priv.privateValue : priv.privateKey;
  return {
    publicPart: map([CKA.CKA_EC_PARAMS, params], [CKA.CKA_EC_POINT, wrapPoint(point)], [CKA.CKA_PUBLIC_KEY_INFO, spki]),
    privatePart: map([CKA.CKA_EC_PARAMS, params], [CKA.CKA_VALUE, secret], [CKA.CKA_PUBLIC_KEY_INFO, spki]),
  };
}

function bytes(attrs: AttributeMap, type: number): Uint8Array | undefined {
  const v = attrs.get(type);
  return v instanceof Uint8Array && v.length > 0 ? v : undefined;
}

function required(attrs: AttributeMap, type: number): Uint8Array {
  const v = bytes(attrs, type);
  if (!v) throw new CkError(CKR.CKR_KEY_HANDLE_INVALID, `key lacks attribute 0x${type.toString(16)}`);
  return v;
}

/** What the backend needs to rebuild an object's key. */
export function componentsOf(attrs: AttributeMap): KeyComponents {
  const isPrivate = attrs.get(CKA.CKA_CLASS) === CKO.CKO_PRIVATE_KEY;
  switch (attrs.get(CKA.CKA_KEY_TYPE)) {
    case CKK.CKK_RSA:
      return {
        type: 'rsa',
        modulus: required(attrs, CKA.CKA_MODULUS),
        publicExponent: required(attrs, CKA.CKA_PUBLIC_EXPONENT),
        ...(isPrivate
          ? {
              privateExponent: required(attrs, CKA.CKA_PRIVATE_EXPONENT),
              prime1: bytes(attrs, CKA.CKA_PRIME_1),
              prime2: bytes(attrs, CKA.CKA_PRIME_2),
              exponent1: bytes(attrs, CKA.CKA_EXPONENT_1),
              exponent2: bytes(attrs, CKA.CKA_EXPONENT_2),
              coefficient: bytes(attrs, CKA.CKA_COEFFICIENT),
            }
          : {}),
      };
    case CKK.CKK_EC: {
      const curve: EcCurve = curveOf(required(attrs, CKA.CKA_EC_PARAMS));
      return isPrivate
        ? { type: 'ec', curve, privateValue: required(attrs, CKA.CKA_VALUE) }
        : { type: 'ec', curve, point: publicBytes(required(attrs, CKA.CKA_EC_POINT), rawPublicLengths('ec', curveByteLength(curve))) };
    }
    case CKK.CKK_EC_EDWARDS: {
      const curve = edwardsCurveOf(required(attrs, CKA.CKA_EC_PARAMS));
      return isPrivate
        ? { type: 'eddsa', curve, privateKey: required(attrs, CKA.CKA_VALUE) }
        : { type: 'eddsa', curve, publicKey: publicBytes(required(attrs, CKA.CKA_EC_POINT), rawPublicLengths('eddsa', curveByteLength(curve))) };
    }
    case CKK.CKK_EC_MONTGOMERY: {
      const curve = montgomeryCurveOf(required(attrs, CKA.CKA_EC_PARAMS));
      return isPrivate
        ? { type: 'xdh', curve, privateKey: required(attrs, CKA.CKA_VALUE) }
        : { type: 'xdh', curve, publicKey: publicBytes(required(attrs, CKA.CKA_EC_POINT), rawPublicLengths('xdh', curveByteLength(curve))) };
    }
    default:
      throw new CkError(CKR.CKR_KEY_TYPE_INCONSISTENT, 'not an RSA, EC, Edwards or Montgomery key');
  }
}

/** Native handles of this application's key objects, keyed by object. */
export class KeyHandleCache {
  private readonly handles = new Map<string, Promise<AsymmetricKey>>();

  constructor(private readonly backend: CryptoBackend) {}

  private static keyOf(object: P11Object): string {
    return `${object.slotId}/${object.id}`;
  }

  /** The native key of an object, imported the first time it is used. */
  get(object: P11Object): Promise<AsymmetricKey> {
    const k = KeyHandleCache.keyOf(object);
    let handle = this.handles.get(k);
    if (!handle) {
      handle = this.backend.importKey(componentsOf(object.attributes));
      // A key that fails to import is not cached: the next call reports it again.
      handle.catch(() => this.handles.delete(k));
      this.handles.set(k, handle);
    }
    return handle;
  }

  /** Seeds the cache with a handle made by key generation. */
  put(object: P11Object, key: AsymmetricKey): void {
    this.handles.set(KeyHandleCache.keyOf(object), Promise.resolve(key));
  }

  clear(): void {
    for (const h of this.handles.values()) void h.then((k) => k.dispose(), () => undefined);
    this.handles.clear();
  }
}
