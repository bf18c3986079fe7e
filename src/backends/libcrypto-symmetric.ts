/** The libcrypto implementation of SymmetricCrypto, over native/crypto/symmetric.c. */
import type { SymmetricCrypto } from './symmetric';

/** The addon functions this part uses. */
export interface SymmetricAddon {}

export function symmetricOps(addon: SymmetricAddon): SymmetricCrypto {
  void addon;
  return {};
}
