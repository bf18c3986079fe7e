/**
 * HMAC_DRBG with HMAC-SHA-256 (SP 800-90A Rev. 1, section 10.1.2), at the
 * 256-bit security strength, with prediction resistance: every generate
 * first reseeds from the entropy source (section 9.3.1). HMAC itself comes
 * from the crypto backend; this file is only the construction around it.
 */
export type Hmac = (key: Uint8Array, data: Uint8Array) => Uint8Array;
/** Returns `length` bytes of fresh entropy input. */
export type EntropySource = (length: number) => Uint8Array;

const OUT = 32;
/** Entropy input per (re)seed: the security strength, 256 bits. */
const ENTROPY_BYTES = 32;
/** The nonce at instantiation: half the security strength (section 8.6.7). */
const NONCE_BYTES = 16;
/** SP 800-90A table 2: at most 2^19 bits per request. */
export const MAX_REQUEST_BYTES = 1 << 16;

export class DrbgError extends Error {}

/**
 * The DRBG, with the continuous health test on its output: a block equal to
 * the one before it is a failure (DrbgError), after which it produces nothing.
 */
export class HmacDrbg {
  private key: Uint8Array = new Uint8Array(OUT);
  private value: Uint8Array = new Uint8Array(OUT).fill(1);
  private previousBlock: Uint8Array | null = null;
  private failed = false;

  /** Instantiates from the entropy source, or from a given entropy input and nonce (known-answer tests). */
  constructor(
    private readonly hmac: Hmac,
    private readonly entropy: EntropySource,
    personalization: Uint8Array = new Uint8Array(0),
    seed?: { readonly entropyInput: Uint8Array; readonly nonce: Uint8Array },
  ) {
    const entropyInput = seed?.entropyInput ?? entropy(ENTROPY_BYTES);
    const nonce = seed?.nonce ?? entropy(NONCE_BYTES);
    this.update(concat(entropyInput, nonce, personalization));
    entropyInput.fill(0);
  }

  /** Generate with prediction resistance: reseed with fresh entropy and the additional input, then produce `length` bytes. */
  generate(length: number, additionalInput: Uint8Array = new Uint8Array(0)): Uint8Array {
    if (this.failed) throw new DrbgError('the DRBG failed its health test');
    if (!Number.isInteger(length) || length < 0 || length > MAX_REQUEST_BYTES) throw new DrbgError(`a request is 0 to ${MAX_REQUEST_BYTES} bytes`);
    const entropyInput = this.entropy(ENTROPY_BYTES);
    this.update(concat(entropyInput, additionalInput));
    entropyInput.fill(0);
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += OUT) {
      this.replaceValue(this.hmac(this.key, this.value));
      this.checkBlock(this.value);
      out.set(this.value.subarray(0, Math.min(OUT, length - at)), at);
    }
    // After the reseed the additional input is the empty string (section 9.3.1, step 7.4).
    this.update(new Uint8Array(0));
    return out;
  }

  /** Zeroises the internal state (the DRBG's CSPs). */
  destroy(): void {
    this.key.fill(0);
    this.value.fill(0);
    this.previousBlock?.fill(0);
  }

  private checkBlock(block: Uint8Array): void {
    const previous = this.previousBlock;
    if (previous && previous.every((b, i) => b === block[i])) {
      this.failed = true;
      this.destroy();
      throw new DrbgError('continuous health test: two consecutive output blocks are equal');
    }
    previous?.fill(0);
    this.previousBlock = Uint8Array.from(block);
  }

  private update(provided: Uint8Array): void {
    this.updateWith(0, provided);
    if (provided.length > 0) this.updateWith(1, provided);
  }

  private updateWith(round: number, provided: Uint8Array): void {
    const input = concat(this.value, Uint8Array.of(round), provided);
    this.replaceKey(this.hmac(this.key, input));
    input.fill(0);
    this.replaceValue(this.hmac(this.key, this.value));
  }

  private replaceKey(key: Uint8Array): void {
    this.key.fill(0);
    this.key = key;
  }

  private replaceValue(value: Uint8Array): void {
    this.value.fill(0);
    this.value = value;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
