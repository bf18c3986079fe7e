/** The libcrypto implementation of SymmetricCrypto, over native/crypto/symmetric.c. */
import { BackendError, DIGEST_LENGTHS } from './backend';
import { call, toBackendError } from './native-errors';
import type {
  AesMode,
  CipherContext,
  CipherSpec,
  HkdfParams,
  MacContext,
  MacSpec,
  Pbkdf2Params,
  SymmetricCrypto,
} from './symmetric';

declare const symmetricHandleBrand: unique symbol;
/** Opaque native handles (type-tagged napi externals). */
export type CipherHandle = { readonly [symmetricHandleBrand]: 'cipher' };
export type MacHandle = { readonly [symmetricHandleBrand]: 'mac' };

/** The addon functions this part uses (see native/crypto/symmetric.c). */
export interface SymmetricAddon {
  cipherNew(
    mode: AesMode,
    encrypt: boolean,
    key: Uint8Array,
    iv: Uint8Array,
    aad: Uint8Array,
    tagLength: number,
    counterBits: number,
    dataLength: number,
  ): CipherHandle;
  cipherUpdate(h: CipherHandle, data: Uint8Array): Uint8Array;
  cipherFinal(h: CipherHandle): Uint8Array;
  cipherUpdateSize(h: CipherHandle, length: number): number;
  cipherFinalSize(h: CipherHandle, pending: number): number;
  cipherFree(h: CipherHandle): void;
  aesKeyWrap(key: Uint8Array, data: Uint8Array, padded: boolean): Uint8Array;
  aesKeyUnwrap(key: Uint8Array, data: Uint8Array, padded: boolean): Uint8Array;
  macNew(kind: 'hmac' | 'cmac', digest: string, key: Uint8Array): MacHandle;
  macUpdate(h: MacHandle, data: Uint8Array): void;
  macFinal(h: MacHandle): Uint8Array;
  macFree(h: MacHandle): void;
  hkdf(
    mode: HkdfParams['mode'],
    digest: string,
    key: Uint8Array,
    salt: Uint8Array,
    info: Uint8Array,
    length: number,
  ): Uint8Array;
  pbkdf2(digest: string, password: Uint8Array, salt: Uint8Array, iterations: number, length: number): Promise<Uint8Array>;
}

const EMPTY = new Uint8Array(0);


class LibcryptoCipher implements CipherContext {
  constructor(
    private readonly addon: SymmetricAddon,
    private readonly handle: CipherHandle,
    readonly mode: AesMode,
    readonly encrypt: boolean,
  ) {}

  update(data: Uint8Array): Uint8Array {
    return call(() => this.addon.cipherUpdate(this.handle, data));
  }

  final(): Uint8Array {
    return call(() => this.addon.cipherFinal(this.handle));
  }

  updateSize(length: number): number {
    return call(() => this.addon.cipherUpdateSize(this.handle, length));
  }

  finalSize(pending = 0): number {
    return call(() => this.addon.cipherFinalSize(this.handle, pending));
  }

  dispose(): void {
    call(() => this.addon.cipherFree(this.handle));
  }
}

class LibcryptoMac implements MacContext {
  constructor(
    private readonly addon: SymmetricAddon,
    private readonly handle: MacHandle,
    readonly length: number,
  ) {}

  update(data: Uint8Array): void {
    call(() => this.addon.macUpdate(this.handle, data));
  }

  final(): Uint8Array {
    return call(() => this.addon.macFinal(this.handle));
  }

  dispose(): void {
    call(() => this.addon.macFree(this.handle));
  }
}

function newCipher(addon: SymmetricAddon, spec: CipherSpec, encrypt: boolean): CipherHandle {
  if ((spec as { algorithm: unknown }).algorithm !== 'aes') {
    throw new BackendError('ALGORITHM_UNSUPPORTED', `unsupported cipher ${String((spec as { algorithm: unknown }).algorithm)}`);
  }
  switch (spec.mode) {
    case 'ecb':
      return addon.cipherNew('ecb', encrypt, spec.key, EMPTY, EMPTY, 0, 0, 0);
    case 'cbc':
    case 'cbc-pad':
      return addon.cipherNew(spec.mode, encrypt, spec.key, spec.iv, EMPTY, 0, 0, 0);
    case 'ctr':
      return addon.cipherNew('ctr', encrypt, spec.key, spec.iv, EMPTY, 0, spec.counterBits, 0);
    case 'gcm':
      return addon.cipherNew('gcm', encrypt, spec.key, spec.iv, spec.aad ?? EMPTY, spec.tagLength, 0, 0);
    case 'ccm':
      return addon.cipherNew('ccm', encrypt, spec.key, spec.nonce, spec.aad ?? EMPTY, spec.tagLength, 0, spec.dataLength);
    default: {
      const mode: unknown = (spec as { mode: unknown }).mode;
      throw new BackendError('ALGORITHM_UNSUPPORTED', `unsupported AES mode ${String(mode)}`);
    }
  }
}

export function symmetricOps(addon: SymmetricAddon): SymmetricCrypto {
  return {
    createCipher(spec: CipherSpec, encrypt: boolean): CipherContext {
      const handle = call(() => newCipher(addon, spec, encrypt));
      return new LibcryptoCipher(addon, handle, spec.mode, encrypt);
    },

    aesKeyWrap(key: Uint8Array, data: Uint8Array, padded: boolean): Uint8Array {
      return call(() => addon.aesKeyWrap(key, data, padded));
    },

    aesKeyUnwrap(key: Uint8Array, wrapped: Uint8Array, padded: boolean): Uint8Array {
      return call(() => addon.aesKeyUnwrap(key, wrapped, padded));
    },

    createMac(spec: MacSpec): MacContext {
      switch (spec.algorithm) {
        case 'hmac': {
          const handle = call(() => addon.macNew('hmac', spec.digest, spec.key));
          return new LibcryptoMac(addon, handle, DIGEST_LENGTHS[spec.digest]);
        }
        case 'cmac': {
          const handle = call(() => addon.macNew('cmac', '', spec.key));
          return new LibcryptoMac(addon, handle, 16);
        }
        default: {
          const alg: unknown = (spec as { algorithm: unknown }).algorithm;
          throw new BackendError('ALGORITHM_UNSUPPORTED', `unsupported MAC ${String(alg)}`);
        }
      }
    },

    hkdf(params: HkdfParams): Uint8Array {
      return call(() => {
        switch (params.mode) {
          case 'extract-expand':
            return addon.hkdf(params.mode, params.digest, params.ikm, params.salt, params.info, params.length);
          case 'extract': {
            const length = DIGEST_LENGTHS[params.digest];
            if (length === undefined) {
              throw new BackendError('ALGORITHM_UNSUPPORTED', `unsupported digest ${String(params.digest)}`);
            }
            return addon.hkdf('extract', params.digest, params.ikm, params.salt, EMPTY, length);
          }
          case 'expand':
            return addon.hkdf('expand', params.digest, params.prk, EMPTY, params.info, params.length);
          default: {
            const mode: unknown = (params as { mode: unknown }).mode;
            throw new BackendError('ALGORITHM_UNSUPPORTED', `unsupported HKDF mode ${String(mode)}`);
          }
        }
      });
    },

    async pbkdf2(params: Pbkdf2Params): Promise<Uint8Array> {
      try {
        return await addon.pbkdf2(params.digest, params.password, params.salt, params.iterations, params.length);
      } catch (err) {
        throw toBackendError(err);
      }
    },
  };
}
