/**
 * The pairwise consistency test after every key-pair generation (FIPS
 * 140-3 IG 10.3.A): the new private key signs a fixed message and the new
 * public key must verify it. Key-agreement-only pairs (X25519, X448) have
 * no signature to test. The fault switch ("pct:rsa", "pct:ec", "pct:eddsa")
 * makes the verification see a changed signature.
 */
import type { AsymmetricKey, KeyPair, SignatureParams } from '../backends/asymmetric';
import type { CryptoBackend } from '../backends/backend';

const MESSAGE = new TextEncoder().encode('Craton HSM pairwise consistency test');

const SCHEMES: Partial<Record<AsymmetricKey['type'], SignatureParams>> = {
  rsa: { scheme: 'rsa-pkcs1', digest: 'sha256' },
  ec: { scheme: 'ecdsa', digest: 'sha256' },
  eddsa: { scheme: 'eddsa' },
};

/** Fault-switch ids of the pairwise tests. */
export const PAIRWISE_TEST_IDS = Object.keys(SCHEMES).map((type) => `pct:${type}`);

/** True when the pair passes (or is not a signature pair). */
export async function pairwiseConsistent(backend: CryptoBackend, pair: KeyPair, fault: string | null): Promise<boolean> {
  const params = SCHEMES[pair.privateKey.type];
  if (!params) return true;
  const signature = await backend.sign(pair.privateKey, params, MESSAGE);
  if (fault === `pct:${pair.privateKey.type}`) signature[signature.length - 1] = (signature[signature.length - 1] as number) ^ 1;
  return backend.verify(pair.publicKey, params, MESSAGE, signature);
}
