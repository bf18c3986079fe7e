/** The libcrypto implementation of AsymmetricCrypto, over native/crypto/asymmetric.c. */
import { BackendError, isBackendErrorCode } from './backend';
import type {
  AsymmetricCrypto,
  AsymmetricKey,
  AsymmetricStats,
  KeyComponents,
  KeyPair,
  KeyPairParams,
  PrivateKeyComponents,
  PublicKeyComponents,
  RecoverParams,
  RsaEncryptionParams,
  RsaKey,
  SignatureParams,
  EcKey,
  MontgomeryKey,
} from './asymmetric';

/** Opaque native key handle (a type-tagged napi external holding an EVP_PKEY reference). */
declare const keyHandleBrand: unique symbol;
export type NativeKeyHandle = { readonly [keyHandleBrand]: 'asymmetric-key' };

/** What asymKeyInfo() returns. */
export interface NativeKeyInfo {
  type: AsymmetricKey['type'];
  curve: AsymmetricKey['curve'];
  bits: number;
  byteLength: number;
  hasPrivate: boolean;
}

/** The addon functions this part uses (native/crypto/asymmetric.c). */
export interface AsymmetricAddon {
  asymGenerateKey(params: KeyPairParams): Promise<NativeKeyHandle>;
  asymImportKey(components: KeyComponents): Promise<NativeKeyHandle>;
  asymKeyInfo(h: NativeKeyHandle): NativeKeyInfo;
  /** Idempotent; later use of h throws STATE. */
  asymKeyFree(h: NativeKeyHandle): void;
  /** New public-only handle. */
  asymPublicKey(h: NativeKeyHandle): NativeKeyHandle;
  asymExport(h: NativeKeyHandle, includePrivate: boolean): PublicKeyComponents | PrivateKeyComponents;
  asymPublicKeyInfo(h: NativeKeyHandle): Uint8Array;
  asymPrivateKeyInfo(h: NativeKeyHandle): Uint8Array;
  /** The private key in a PKCS#8 PrivateKeyInfo, not yet checked. */
  asymParsePrivateKeyInfo(der: Uint8Array): NativeKeyHandle;
  asymSign(h: NativeKeyHandle, params: SignatureParams, data: Uint8Array): Promise<Uint8Array>;
  asymVerify(h: NativeKeyHandle, params: SignatureParams, data: Uint8Array, signature: Uint8Array): Promise<boolean>;
  asymVerifyRecover(h: NativeKeyHandle, params: RecoverParams, signature: Uint8Array): Promise<Uint8Array | null>;
  asymEncrypt(h: NativeKeyHandle, params: RsaEncryptionParams, data: Uint8Array): Promise<Uint8Array>;
  asymDecrypt(h: NativeKeyHandle, params: RsaEncryptionParams, data: Uint8Array): Promise<Uint8Array>;
  asymDerive(h: NativeKeyHandle, peerPublic: Uint8Array): Promise<Uint8Array>;
  asymStats(reset?: boolean): AsymmetricStats;
}

function toError(err: unknown): BackendError {
  if (err instanceof BackendError) return err;
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    return new BackendError(isBackendErrorCode(code) ? code : 'LIBRARY', err.message, { cause: err });
  }
  return new BackendError('LIBRARY', String(err));
}

function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toError(err);
  }
}

async function callAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toError(err);
  }
}

/** Native handles of the keys this backend made (not reachable from the key objects' public surface). */
const handles = new WeakMap<object, NativeKeyHandle>();

function handleOf(key: AsymmetricKey): NativeKeyHandle {
  const h = typeof key === 'object' && key !== null ? handles.get(key) : undefined;
  if (h === undefined) throw new BackendError('ARGUMENT', 'not a key of this backend');
  return h;
}

class LibcryptoKey {
  readonly type: AsymmetricKey['type'];
  readonly curve: AsymmetricKey['curve'];
  readonly bits: number;
  readonly byteLength: number;
  readonly hasPrivate: boolean;

  readonly #addon: AsymmetricAddon;

  constructor(addon: AsymmetricAddon, handle: NativeKeyHandle) {
    this.#addon = addon;
    const info = call(() => addon.asymKeyInfo(handle));
    this.type = info.type;
    this.curve = info.curve;
    this.bits = info.bits;
    this.byteLength = info.byteLength;
    this.hasPrivate = info.hasPrivate;
    handles.set(this, handle);
    Object.freeze(this);
  }

  dispose(): void {
    const h = handles.get(this);
    if (h !== undefined) call(() => this.#addon.asymKeyFree(h));
  }

}

export function asymmetricOps(addon: AsymmetricAddon): AsymmetricCrypto {
  const wrap = (h: NativeKeyHandle): AsymmetricKey => new LibcryptoKey(addon, h) as unknown as AsymmetricKey;

  const ops = {
    async generateKeyPair(params: KeyPairParams): Promise<KeyPair> {
      const h = await callAsync(() => addon.asymGenerateKey(params));
      const privateKey = wrap(h);
      const publicKey = wrap(call(() => addon.asymPublicKey(h)));
      return Object.freeze({ publicKey, privateKey });
    },

    async importKey(components: KeyComponents): Promise<AsymmetricKey> {
      return wrap(await callAsync(() => addon.asymImportKey(components)));
    },

    publicKeyOf<K extends AsymmetricKey>(key: K): K {
      return wrap(call(() => addon.asymPublicKey(handleOf(key)))) as K;
    },

    exportPublicKey(key: AsymmetricKey): PublicKeyComponents {
      return call(() => addon.asymExport(handleOf(key), false)) as PublicKeyComponents;
    },

    exportPrivateKey(key: AsymmetricKey): PrivateKeyComponents {
      return call(() => addon.asymExport(handleOf(key), true)) as PrivateKeyComponents;
    },

    publicKeyInfo(key: AsymmetricKey): Uint8Array {
      return call(() => addon.asymPublicKeyInfo(handleOf(key)));
    },

    privateKeyInfo(key: AsymmetricKey): Uint8Array {
      return call(() => addon.asymPrivateKeyInfo(handleOf(key)));
    },

    async importPrivateKeyInfo(der: Uint8Array): Promise<AsymmetricKey> {
      // Parsing checks only the encoding: the components go through importKey's checks.
      const parsed = wrap(call(() => addon.asymParsePrivateKeyInfo(der)));
      try {
        return await ops.importKey(ops.exportPrivateKey(parsed));
      } finally {
        parsed.dispose();
      }
    },

    sign(key: AsymmetricKey, params: SignatureParams, data: Uint8Array): Promise<Uint8Array> {
      return callAsync(() => addon.asymSign(handleOf(key), params, data));
    },

    verify(key: AsymmetricKey, params: SignatureParams, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
      return callAsync(() => addon.asymVerify(handleOf(key), params, data, signature));
    },

    verifyRecover(key: RsaKey, params: RecoverParams, signature: Uint8Array): Promise<Uint8Array | null> {
      return callAsync(() => addon.asymVerifyRecover(handleOf(key), params, signature));
    },

    rsaEncrypt(key: RsaKey, params: RsaEncryptionParams, data: Uint8Array): Promise<Uint8Array> {
      return callAsync(() => addon.asymEncrypt(handleOf(key), params, data));
    },

    rsaDecrypt(key: RsaKey, params: RsaEncryptionParams, data: Uint8Array): Promise<Uint8Array> {
      return callAsync(() => addon.asymDecrypt(handleOf(key), params, data));
    },

    deriveEcdh(privateKey: EcKey | MontgomeryKey, peerPublic: Uint8Array): Promise<Uint8Array> {
      return callAsync(() => addon.asymDerive(handleOf(privateKey), peerPublic));
    },

    asymmetricStats(reset = false): AsymmetricStats {
      return call(() => addon.asymStats(reset));
    },
  };
  // The overloads of generateKeyPair / importKey narrow the key type by the
  // parameters; the implementation returns what the native side built.
  return ops as AsymmetricCrypto;
}
