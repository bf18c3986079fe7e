/** The module's slots; each holds one software token. */
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { Token } from '../tokens/token';

export class SlotTable {
  constructor(private readonly tokens: readonly Token[]) {}

  get ids(): number[] {
    return this.tokens.map((t) => t.slotId);
  }

  token(slotId: number): Token {
    const t = this.tokens.find((x) => x.slotId === slotId);
    if (!t) throw new CkError(CKR.CKR_SLOT_ID_INVALID);
    return t;
  }

  all(): readonly Token[] {
    return this.tokens;
  }
}
