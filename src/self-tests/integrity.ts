/**
 * The software integrity test: an HMAC-SHA-256, keyed with a constant built
 * into the module, over every file of code the module runs, compared with
 * the sidecar next to the library (`libcraton_hsm.hmac` beside
 * `libcraton_hsm.so`, `craton_hsm.hmac` beside `craton_hsm.dll`), which
 * tools/compute-integrity-hmac.sh and .ps1 write.
 *
 * The canonical manifest (docs/FIPS.md): for each covered file that exists,
 * in this order, the ASCII line "<role>:<size in bytes>\n" and then the
 * file's bytes:
 *   shim          the PKCS#11 library itself
 *   embedder      libcraton_embedder.so beside it (CRATON_HSM_EMBEDDER overrides)
 *   runtime       the TypeScript runtime bundle
 *   addon-crypto, addon-sqlite, addon-os
 *                 the N-API addons, from CRATON_HSM_ADDON_DIR or
 *                 <runtime's folder>/../build/Release
 * The shim, the runtime and the crypto addon must exist.
 */
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** The integrity key. Public by design: the test detects change, it does not authenticate a publisher. */
export const INTEGRITY_KEY_HEX = '637261746f6e2d68736d2d696e74656772697479';

export interface CoveredFile {
  readonly role: string;
  readonly path: string;
  readonly required: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

function sidecarPath(libraryPath: string): string {
  const dir = dirname(libraryPath);
  const name = basename(libraryPath).replace(/\.(so|dll|dylib)$/, '');
  return join(dir, `${name}.hmac`);
}

/** The files the manifest covers, for a library and runtime bundle at these paths. */
export function coveredFiles(libraryPath: string, runtimePath: string, env: Env): CoveredFile[] {
  const addonDir = env.CRATON_HSM_ADDON_DIR ? resolve(env.CRATON_HSM_ADDON_DIR) : resolve(dirname(runtimePath), '..', 'build', 'Release');
  const isDll = libraryPath.endsWith('.dll');
  const embedder = env.CRATON_HSM_EMBEDDER || join(dirname(libraryPath), isDll ? 'craton_embedder.dll' : 'libcraton_embedder.so');
  return [
    { role: 'shim', path: libraryPath, required: true },
    { role: 'embedder', path: embedder, required: false },
    { role: 'runtime', path: runtimePath, required: true },
    { role: 'addon-crypto', path: join(addonDir, 'craton_crypto.node'), required: true },
    { role: 'addon-sqlite', path: join(addonDir, 'craton_sqlite.node'), required: false },
    { role: 'addon-os', path: join(addonDir, 'craton_os.node'), required: false },
  ];
}

/** The manifest's HMAC in hex; throws naming a required file that is missing. */
export function manifestHmac(files: readonly CoveredFile[]): string {
  const mac = createHmac('sha256', Buffer.from(INTEGRITY_KEY_HEX, 'hex'));
  for (const f of files) {
    if (!existsSync(f.path)) {
      if (f.required) throw new Error(`${f.role} (${f.path}) is missing`);
      continue;
    }
    const bytes = readFileSync(f.path);
    mac.update(`${f.role}:${bytes.length}\n`);
    mac.update(bytes);
  }
  return mac.digest('hex');
}

export type IntegrityResult = 'OK' | 'SKIPPED' | 'FAILED';

export interface IntegrityOutcome {
  readonly result: IntegrityResult;
  readonly detail: string;
}

/** Compares the manifest's HMAC with the sidecar; no sidecar is SKIPPED (the caller decides whether that is allowed). */
export function checkIntegrity(libraryPath: string, runtimePath: string, env: Env): IntegrityOutcome {
  const sidecar = sidecarPath(libraryPath);
  if (!existsSync(sidecar)) return { result: 'SKIPPED', detail: `no sidecar ${sidecar}` };
  const expected = readFileSync(sidecar, 'utf8').trim().toLowerCase();
  let actual: string;
  try {
    actual = manifestHmac(coveredFiles(libraryPath, runtimePath, env));
  } catch (e) {
    return { result: 'FAILED', detail: (e as Error).message };
  }
  return expected === actual ? { result: 'OK', detail: sidecar } : { result: 'FAILED', detail: `${sidecar} does not match the module's files` };
}
