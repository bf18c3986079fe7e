/** Everything that exists while the module is initialised, built at C_Initialize. */
import { createHash } from 'node:crypto';
import type { CryptoBackend } from '../backends/backend';
import type { CratonConfig } from '../config/config';
import { AlgorithmPolicy } from '../mechanisms/policy';
import { MechanismRegistry } from '../mechanisms/registry';
import type { RandomSource } from '../random/random-source';
import { KeyHandleCache } from '../objects/asymmetric-keys';
import { ObjectTable } from '../objects/object-table';
import { SessionTable } from '../sessions/session-table';
import { SlotTable } from '../slots/slot-table';
import { SqliteTokenStore } from '../store/sqlite-token-store';
import { Token } from '../tokens/token';

export class Hsm {
  readonly slots: SlotTable;
  readonly sessions = new SessionTable();
  readonly objects = new ObjectTable();
  readonly mechanisms: MechanismRegistry;
  /** Native handles of the key objects in use, imported once. */
  readonly keys: KeyHandleCache;

  constructor(
    readonly config: CratonConfig,
    readonly backend: CryptoBackend,
    private readonly random: RandomSource,
  ) {
    this.mechanisms = new MechanismRegistry(new AlgorithmPolicy(config.algorithms));
    this.keys = new KeyHandleCache(backend);
    const tokens: Token[] = [];
    for (let slotId = 0; slotId < config.slots.count; slotId++) {
      // The serial is stable for a given store path and slot, so it survives C_InitToken.
      const serial = createHash('sha256').update(`${config.storage.path}#${slotId}`).digest('hex').slice(0, 16);
      tokens.push(new Token(slotId, () => new SqliteTokenStore(config.storage.path, slotId, serial, backend), backend, config.pin));
    }
    this.slots = new SlotTable(tokens);
  }

  close(): void {
    this.sessions.closeAll();
    this.keys.clear();
    for (const t of this.slots.all()) t.close();
    this.random.destroy();
  }
}
