/** The libcrypto implementation of AsymmetricCrypto, over native/crypto/asymmetric.c. */
import type { AsymmetricCrypto } from './asymmetric';

/** The addon functions this part uses. */
export interface AsymmetricAddon {}

export function asymmetricOps(addon: AsymmetricAddon): AsymmetricCrypto {
  void addon;
  return {};
}
