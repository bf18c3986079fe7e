/** The mechanism registry, built from the family files in this folder and narrowed by the algorithm policy. */
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import { aesFamily } from './aes';
import { digestFamily } from './digest';
import { ecdhFamily } from './ecdh';
import { ecdsaFamily } from './ecdsa';
import { eddsaFamily } from './eddsa';
import { hkdfFamily } from './hkdf';
import { hmacFamily } from './hmac';
import { pbkdf2Family } from './pbkdf2';
import { rsaFamily } from './rsa';
import { sp800108Family } from './sp800-108';
import type { MechanismFamily, MechanismSpec } from './mechanism';
import type { AlgorithmPolicy } from './policy';

const FAMILIES: readonly MechanismFamily[] = [digestFamily, hmacFamily, aesFamily, rsaFamily, ecdsaFamily, eddsaFamily, ecdhFamily, hkdfFamily, pbkdf2Family, sp800108Family];

export class MechanismRegistry {
  private readonly byType = new Map<number, MechanismSpec>();

  constructor(
    readonly policy: AlgorithmPolicy,
    families: readonly MechanismFamily[] = FAMILIES,
  ) {
    const seen = new Set<number>();
    for (const f of families) {
      for (const m of f.mechanisms) {
        if (seen.has(m.type)) throw new Error(`mechanism 0x${m.type.toString(16)} declared twice`);
        seen.add(m.type);
        if (policy.offers(m)) this.byType.set(m.type, m);
      }
    }
  }

  types(): number[] {
    return [...this.byType.keys()].sort((a, b) => a - b);
  }

  /** An offered mechanism; any other is CKR_MECHANISM_INVALID. */
  get(type: number): MechanismSpec {
    const m = this.byType.get(type);
    if (!m) throw new CkError(CKR.CKR_MECHANISM_INVALID, `mechanism 0x${type.toString(16)} is not offered`);
    return m;
  }
}
