/**
 * IVs (nonces) the module generates for message-based AEAD encryption
 * (CK_GCM_MESSAGE_PARAMS ivGenerator, CK_CCM_MESSAGE_PARAMS nonceGenerator,
 * PKCS#11 3.0 section 6.13): the caller's ulIvFixedBits leading bits, then
 * bits the module chooses, the least significant bit rightmost.
 *
 * No counter-made IV repeats for one key within a session. Each session keeps
 * one counter per key value (copies of a key share it), starting at zero and
 * shared by every IV length, fixed-field width and mechanism. CKG_GENERATE_COUNTER
 * puts it in all the generated bits; CKG_GENERATE in the low 32 of them, random
 * bits above (so sessions sharing a key are unlikely to collide either). The
 * counter must stay below 2^w for the narrowest counter field w used so far:
 * then any two such IVs differ in their low bits, whatever fixed fields the
 * caller gave. CKG_GENERATE_RANDOM IVs are unique with high probability only,
 * hence at least 64 random bits.
 */
import { CKG_IV, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { CryptoBackend } from '../backends/backend';
import type { Session } from './session';

/** Bits of a CKG_GENERATE IV that hold the counter (at most). */
const GENERATE_COUNTER_BITS = 32;
/** Fewest random bits a CKG_GENERATE_RANDOM IV may have. */
const MIN_RANDOM_BITS = 64;

/** What one message asks for: the caller's IV buffer (its length is the IV's), the bits to keep, the generator. */
export interface IvRequest {
  readonly template: Uint8Array;
  readonly fixedBits: number;
  readonly generator: number;
}

/** An IV for one message. take() marks it used; a call that only reports a length never takes it. */
export interface PendingIv {
  readonly iv: Uint8Array;
  /** Whether the module chose it (and must return it to the caller). */
  readonly generated: boolean;
  take(): void;
}

type Random = CryptoBackend['randomBytes'];

const bigintOf = (bytes: Uint8Array): bigint => (bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`));

function bytesOf(value: bigint, length: number): Uint8Array {
  return Buffer.from(value.toString(16).padStart(2 * length, '0'), 'hex');
}

function randomBits(random: Random, bits: number): bigint {
  return bigintOf(random(Math.ceil(bits / 8))) & ((1n << BigInt(bits)) - 1n);
}

export class IvGenerator {
  private counter = 0n;
  private narrowest = Number.POSITIVE_INFINITY;

  constructor(private readonly random: Random) {}

  /** The IV a message asks for, not yet used; CKR_MECHANISM_PARAM_INVALID when none can be made. */
  prepare(request: IvRequest): PendingIv {
    const { template, fixedBits, generator } = request;
    if (generator === CKG_IV.CKG_NO_GENERATE) return { iv: template, generated: false, take: () => undefined };
    const length = template.length;
    require(fixedBits <= 8 * length, CKR.CKR_MECHANISM_PARAM_INVALID, 'ulIvFixedBits is longer than the IV');
    const free = 8 * length - fixedBits;
    const fixed = (bigintOf(template) >> BigInt(free)) << BigInt(free);
    if (generator === CKG_IV.CKG_GENERATE_RANDOM) {
      require(free >= MIN_RANDOM_BITS, CKR.CKR_MECHANISM_PARAM_INVALID, `CKG_GENERATE_RANDOM needs at least ${MIN_RANDOM_BITS} generated bits`);
      return { iv: bytesOf(fixed | randomBits(this.random, free), length), generated: true, take: () => undefined };
    }
    if (generator !== CKG_IV.CKG_GENERATE && generator !== CKG_IV.CKG_GENERATE_COUNTER) {
      throw new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, `IV generator ${generator} is not supported`);
    }
    const width = generator === CKG_IV.CKG_GENERATE ? Math.min(free, GENERATE_COUNTER_BITS) : free;
    const narrowest = Math.min(this.narrowest, width);
    const counter = this.counter;
    require(counter < 1n << BigInt(narrowest), CKR.CKR_MECHANISM_PARAM_INVALID, 'the IV counter of this key is used up in this session');
    const above = width < free ? (randomBits(this.random, free) >> BigInt(width)) << BigInt(width) : 0n;
    return {
      iv: bytesOf(fixed | above | counter, length),
      generated: true,
      take: () => {
        // Only the handler that prepared this IV may use it, and only once.
        if (this.counter !== counter) throw new Error('an IV was prepared twice');
        this.counter = counter + 1n;
        this.narrowest = narrowest;
      },
    };
  }
}

/** Per session, each key's generator, by a digest of the key value. */
const generators = new WeakMap<Session, Map<string, IvGenerator>>();

/** The IV generator of one key (its value) in one session. */
export function ivGeneratorFor(session: Session, key: Uint8Array, backend: CryptoBackend): IvGenerator {
  let byKey = generators.get(session);
  if (!byKey) {
    byKey = new Map();
    generators.set(session, byKey);
  }
  const id = Buffer.from(backend.digest('sha256', key)).toString('hex');
  let generator = byKey.get(id);
  if (!generator) {
    generator = new IvGenerator((n) => backend.randomBytes(n));
    byKey.set(id, generator);
  }
  return generator;
}
