/**
 * libcrypto backend: OpenSSL 3 (or, later, AWS-LC) through the craton_crypto
 * N-API addon (native/crypto/, built by binding.gyp).
 *
 * Where the addon is looked for, first match wins:
 *   1. the `addonPath` argument (a .node file, or a directory holding
 *      craton_crypto.node);
 *   2. $CRATON_HSM_ADDON_DIR/craton_crypto.node;
 *   (either of these, when given, is the only place looked at);
 *   3. <dir of the running bundle>/../build/Release/craton_crypto.node
 *      (dist/runtime.js is a CJS bundle, so __dirname is its directory);
 *   4. <process.cwd()>/build/Release/craton_crypto.node (vitest, tools run
 *      from the project root).
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { call, toBackendError } from './native-errors';
import { asymmetricOps, type AsymmetricAddon } from './libcrypto-asymmetric';
import { symmetricOps, type SymmetricAddon } from './libcrypto-symmetric';

import {
  BackendError,
  type CryptoBackend,
  type DigestAlgorithm,
  type DigestContext,
} from './backend';

export const ADDON_FILE = 'craton_crypto.node';
export const ADDON_DIR_ENV = 'CRATON_HSM_ADDON_DIR';

/** Opaque native handle (a type-tagged napi external). */
declare const nativeHandleBrand: unique symbol;
type NativeHandle = { readonly [nativeHandleBrand]: 'digest' };

/** What libraryInfo() of the addon returns. */
export interface NativeLibraryInfo {
  /** 'OpenSSL' | 'AWS-LC' (| 'BoringSSL'), from the bound library's own version text. */
  name: string;
  /** OpenSSL_version(OPENSSL_VERSION) of the library that answered. */
  version: string;
  /** OpenSSL_version_num() of the library that answered. */
  versionNumber: number;
  /** OPENSSL_VERSION_TEXT of the headers the addon was compiled against. */
  compiledVersion: string;
  compiledVersionNumber: number;
  /** binding.gyp's craton_crypto_lib. */
  configured: string;
  /** Object (file) that OpenSSL_version was resolved to, null if unknown. */
  boundTo: string | null;
  /** True if that object is the main program (e.g. node's bundled OpenSSL). */
  boundToMainProgram: boolean;
  /** True if every entry point the addon uses resolved to the same object. */
  consistent: boolean;
  /** Entry point name -> object it was resolved to. */
  symbols: Record<string, string | null>;
}

/** The raw addon surface (see native/crypto/*.c). */
export interface NativeAddon extends SymmetricAddon, AsymmetricAddon {
  libraryInfo(): NativeLibraryInfo;
  digestNew(alg: string): NativeHandle;
  digestUpdate(h: NativeHandle, data: Uint8Array): void;
  digestFinal(h: NativeHandle): Uint8Array;
  digestCopy(h: NativeHandle): NativeHandle;
  digestFree(h: NativeHandle): void;
  digestOneShot(alg: string, data: Uint8Array): Uint8Array;
  randomBytes(n: number): Uint8Array;
  aes256GcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  aes256GcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
  hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array;
}

export interface LibcryptoBackend extends CryptoBackend {
  readonly name: 'openssl' | 'awslc';
  /** Path of the .node that was loaded. */
  readonly addonPath: string;
  /** Full run-time description of the bound libcrypto. */
  readonly details: NativeLibraryInfo;
}

function asAddonFile(p: string, fileName: string): string {
  const abs = path.resolve(p);
  try {
    if (statSync(abs).isDirectory()) return path.join(abs, fileName);
  } catch {
    // not there: let require() report it
  }
  return abs;
}

/**
 * Candidate locations of the addon, in order (see the file comment).  An
 * explicit path or $CRATON_HSM_ADDON_DIR is authoritative: it is the only
 * candidate, so a misconfiguration fails loudly instead of silently loading
 * some other build.
 */
export function addonCandidates(addonPath?: string, fileName = ADDON_FILE): string[] {
  if (addonPath !== undefined && addonPath !== '') return [asAddonFile(addonPath, fileName)];
  const envDir = process.env[ADDON_DIR_ENV];
  if (envDir !== undefined && envDir !== '') return [path.resolve(envDir, fileName)];
  const out: string[] = [];
  // In the esbuild CJS bundle __dirname is dist/; under an ESM loader it may be absent.
  if (typeof __dirname === 'string') {
    out.push(path.resolve(__dirname, '..', 'build', 'Release', fileName));
  }
  out.push(path.resolve(process.cwd(), 'build', 'Release', fileName));
  return out;
}

/** Loads one of the project's N-API addons (craton_crypto.node, craton_sqlite.node). */
export function loadAddon<T = NativeAddon>(addonPath?: string, fileName = ADDON_FILE): { addon: T; file: string } {
  const candidates = addonCandidates(addonPath, fileName);
  const file = candidates.find((c) => existsSync(c)) ?? candidates[0]!;
  const req = createRequire(path.join(process.cwd(), 'noop.js'));
  try {
    return { addon: req(file) as T, file };
  } catch (err) {
    throw new BackendError(
      'LIBRARY',
      `cannot load ${fileName} (tried: ${candidates.join(', ')}): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

class LibcryptoDigest implements DigestContext {
  constructor(
    private readonly addon: NativeAddon,
    private readonly handle: NativeHandle,
  ) {}

  update(data: Uint8Array): void {
    call(() => this.addon.digestUpdate(this.handle, data));
  }

  final(): Uint8Array {
    return call(() => this.addon.digestFinal(this.handle));
  }

  copy(): DigestContext {
    return new LibcryptoDigest(
      this.addon,
      call(() => this.addon.digestCopy(this.handle)),
    );
  }

  dispose(): void {
    call(() => this.addon.digestFree(this.handle));
  }
}

export function loadLibcryptoBackend(addonPath?: string): LibcryptoBackend {
  const { addon, file } = loadAddon(addonPath);
  const details = call(() => addon.libraryInfo());
  const name = details.name === 'AWS-LC' ? 'awslc' : 'openssl';
  const library = Object.freeze({ name: details.name, version: details.version });

  return Object.freeze({
    ...symmetricOps(addon),
    ...asymmetricOps(addon),
    name,
    library,
    addonPath: file,
    details: Object.freeze(details),

    createDigest(alg: DigestAlgorithm): DigestContext {
      return new LibcryptoDigest(
        addon,
        call(() => addon.digestNew(alg)),
      );
    },

    digest(alg: DigestAlgorithm, data: Uint8Array): Uint8Array {
      return call(() => addon.digestOneShot(alg, data));
    },

    randomBytes(length: number): Uint8Array {
      return call(() => addon.randomBytes(length));
    },

    async pbkdf2HmacSha256(
      password: Uint8Array,
      salt: Uint8Array,
      iterations: number,
      length: number,
    ): Promise<Uint8Array> {
      // The general PBKDF2 of symmetric.c, with the digest PIN verifiers use.
      try {
        return await addon.pbkdf2('sha256', password, salt, iterations, length);
      } catch (err) {
        throw toBackendError(err);
      }
    },

    aes256GcmSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
      return call(() => addon.aes256GcmSeal(key, nonce, aad, plaintext));
    },

    aes256GcmOpen(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
      return call(() => addon.aes256GcmOpen(key, nonce, aad, sealed));
    },

    hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
      return call(() => addon.hkdfSha256(ikm, salt, info, length));
    },
  });
}
