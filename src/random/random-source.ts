/**
 * The module's random numbers: one HMAC_DRBG seeded from the kernel, with
 * prediction resistance. C_GenerateRandom, secret-key values, IVs and the
 * token store's keys all come from here (docs/FIPS.md). Besides the DRBG's
 * own output test, consecutive entropy inputs must differ; either failure
 * is reported to `onFailure` (the module enters its error state) and every
 * later request fails.
 */
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import { DrbgError, HmacDrbg, MAX_REQUEST_BYTES, type EntropySource, type Hmac } from './hmac-drbg';

const PERSONALIZATION = new TextEncoder().encode('Craton HSM DRBG');

export class RandomSource {
  private readonly drbg: HmacDrbg;
  /** The previous entropy input of each length (seeds and nonces are compared with their own kind). */
  private readonly previousEntropy = new Map<number, Uint8Array>();

  constructor(
    hmac: Hmac,
    entropy: EntropySource,
    private readonly onFailure: (reason: string) => void,
  ) {
    this.drbg = this.guard(() => new HmacDrbg(hmac, (n) => this.checkedEntropy(entropy, n), PERSONALIZATION));
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += MAX_REQUEST_BYTES) {
      const n = Math.min(MAX_REQUEST_BYTES, length - at);
      out.set(this.guard(() => this.drbg.generate(n)), at);
    }
    return out;
  }

  destroy(): void {
    this.drbg.destroy();
    for (const p of this.previousEntropy.values()) p.fill(0);
  }

  private checkedEntropy(entropy: EntropySource, length: number): Uint8Array {
    const input = entropy(length);
    const previous = this.previousEntropy.get(length);
    if (previous && previous.every((b, i) => b === input[i])) {
      throw new DrbgError('continuous health test: the entropy source repeated its output');
    }
    previous?.fill(0);
    this.previousEntropy.set(length, Uint8Array.from(input));
    return input;
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (!(e instanceof DrbgError)) throw e;
      this.onFailure(e.message);
      throw new CkError(CKR.CKR_GENERAL_ERROR, e.message);
    }
  }
}
