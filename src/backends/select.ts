/** Picks the crypto backend craton_hsm.toml's algorithms.crypto_backend asks for, failing closed when it is not the one built. */
import type { BackendChoice } from '../config/config';
import { loadLibcryptoBackend, type LibcryptoBackend } from './libcrypto';

export class BackendUnavailable extends Error {}

export function selectBackend(choice: BackendChoice): LibcryptoBackend {
  if (choice === 'cng') throw new BackendUnavailable('algorithms.crypto_backend = "cng": the CNG backend exists only in the Windows build (craton_hsm.dll)');
  const backend = loadLibcryptoBackend();
  if (choice !== 'auto' && backend.name !== choice) {
    throw new BackendUnavailable(
      `algorithms.crypto_backend = "${choice}", but the crypto addon ${backend.addonPath} is built against ${backend.library.version}; ` +
        `use the ${choice === 'awslc' ? 'AWS-LC build (npm run build:addon:awslc, CRATON_HSM_ADDON_DIR)' : 'default build'} or crypto_backend = "auto"`,
    );
  }
  return backend;
}
