/**
 * A token in one SQLite database (WAL mode, synchronous=FULL): every change is
 * one transaction, durable before the PKCS#11 call returns, and atomic across
 * a crash. Several processes share the file; each keeps the objects in memory
 * (ObjectIndex) and reloads only what changed, which it learns cheaply from
 * PRAGMA data_version and a per-row change sequence.
 */
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { CKA, CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import { loadAddon } from '../backends/libcrypto';
import type { CryptoBackend } from '../backends/backend';
import { log } from '../log';
import type { AttributeMap } from '../objects/attribute-value';
import { isSecretAttribute } from '../objects/object-rules';
import { objectKey, openObject, sealObject, type SealedObject } from './at-rest';
import { ObjectIndex } from './object-index';
import type { TokenRecord, TokenStore } from './token-store';

/** The schema this code writes; a database with a newer one is refused. */
export const SCHEMA_VERSION = 1;

type Row = (number | string | Uint8Array | null)[];
interface SqliteAddon {
  open(path: string, readonly: boolean): unknown;
  close(db: unknown): void;
  exec(db: unknown, sql: string): void;
  prepare(db: unknown, sql: string): unknown;
  finalize(stmt: unknown): void;
  run(stmt: unknown, params: unknown[]): number;
  get(stmt: unknown, params: unknown[]): Row | undefined;
  all(stmt: unknown, params: unknown[]): Row[];
}

let addon: SqliteAddon | null = null;
function sqlite(): SqliteAddon {
  addon ??= loadAddon<SqliteAddon>(undefined, 'craton_sqlite.node').addon;
  return addon;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS token (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  record TEXT NOT NULL,
  change_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  private INTEGER NOT NULL,
  body TEXT NOT NULL
);`;

const STATEMENTS = {
  dataVersion: 'PRAGMA data_version',
  token: 'SELECT record, change_seq FROM token WHERE id = 1',
  setToken: 'UPDATE token SET record = ?, change_seq = ? WHERE id = 1',
  versions: 'SELECT id, seq FROM objects',
  object: 'SELECT body FROM objects WHERE id = ?',
  insertObject: 'INSERT INTO objects (id, seq, private, body) VALUES (?, ?, ?, ?)',
  updateObject: 'UPDATE objects SET seq = ?, private = ?, body = ? WHERE id = ?',
  deleteObject: 'DELETE FROM objects WHERE id = ?',
  deleteAll: 'DELETE FROM objects',
  begin: 'BEGIN IMMEDIATE',
  commit: 'COMMIT',
  rollback: 'ROLLBACK',
} as const;

interface CachedRow {
  seq: number;
  sealed: SealedObject;
}

export class SqliteTokenStore implements TokenStore {
  readonly location: string;
  private readonly db: unknown;
  private readonly stmt: Record<keyof typeof STATEMENTS, unknown>;
  private readonly index = new ObjectIndex();
  private readonly rows = new Map<string, CachedRow>();
  private record: TokenRecord;
  private changeSeq = 0;
  private dataVersion = -1;
  private key: Uint8Array | null = null;

  constructor(
    directory: string,
    slotId: number,
    serial: string,
    private readonly backend: CryptoBackend,
  ) {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    this.location = join(directory, `token-${slotId}.sqlite`);
    // Created owner-only before SQLite opens it; its WAL and shm files inherit these permissions.
    closeSync(openSync(this.location, 'a', 0o600));
    this.db = this.guard(() => sqlite().open(this.location, false));
    try {
      this.guard(() => this.retryWhileBusy(() => this.prepareSchema(serial)));
      this.stmt = this.guard(() => Object.fromEntries(Object.entries(STATEMENTS).map(([k, sql]) => [k, sqlite().prepare(this.db, sql)]))) as Record<
        keyof typeof STATEMENTS,
        unknown
      >;
      this.record = this.loadToken();
      this.refresh();
    } catch (e) {
      sqlite().close(this.db);
      throw e;
    }
  }

  /**
   * Creating the schema and switching a new file to WAL can meet SQLITE_BUSY
   * without SQLite's busy handler running (several processes opening a new
   * token at once): retry for a while.
   */
  private retryWhileBusy<T>(work: () => T): T {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        return work();
      } catch (e) {
        const code = (e as { code?: string }).code;
        if ((code !== 'SQLITE_BUSY' && code !== 'SQLITE_LOCKED') || Date.now() > deadline) throw e;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
  }

  /** Runs a statement once and releases it. */
  private once(sql: string, params: unknown[]): Row | undefined {
    const s = sqlite();
    const stmt = s.prepare(this.db, sql);
    try {
      return s.get(stmt, params);
    } finally {
      s.finalize(stmt);
    }
  }

  private prepareSchema(serial: string): void {
    const s = sqlite();
    s.exec(this.db, 'PRAGMA busy_timeout = 10000');
    const version = Number(this.once('PRAGMA user_version', [])?.[0] ?? 0);
    if (version > SCHEMA_VERSION) {
      throw new CkError(CKR.CKR_TOKEN_NOT_RECOGNIZED, `${this.location} has schema version ${version}; this module knows ${SCHEMA_VERSION}`);
    }
    s.exec(this.db, 'PRAGMA journal_mode = WAL');
    s.exec(this.db, 'PRAGMA synchronous = FULL');
    if (version === SCHEMA_VERSION) return;
    s.exec(this.db, 'BEGIN IMMEDIATE');
    try {
      s.exec(this.db, SCHEMA);
      const fresh: TokenRecord = { label: '', serial, initialized: false, epoch: 0, soKey: null, userKey: null, soFailures: 0, userFailures: 0 };
      this.once('INSERT OR IGNORE INTO token (id, record, change_seq) VALUES (1, ?, 0)', [JSON.stringify(fresh)]);
      s.exec(this.db, `PRAGMA user_version = ${SCHEMA_VERSION}`);
      s.exec(this.db, 'COMMIT');
    } catch (e) {
      try {
        s.exec(this.db, 'ROLLBACK');
      } catch {
        // BEGIN itself failed: there is nothing to roll back.
      }
      throw e;
    }
  }

  /** Runs SQLite work, turning its failures into PKCS#11 errors with a log line naming the file. */
  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (e) {
      if (e instanceof CkError) throw e;
      const code = (e as { code?: string }).code ?? '';
      const message = `token store ${this.location}: ${(e as Error).message}`;
      log.error(message);
      if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') throw new CkError(CKR.CKR_TOKEN_NOT_RECOGNIZED, message);
      if (code === 'SQLITE_FULL') throw new CkError(CKR.CKR_DEVICE_MEMORY, message);
      throw new CkError(CKR.CKR_DEVICE_ERROR, message);
    }
  }

  private loadToken(): TokenRecord {
    const row = sqlite().get(this.stmt.token, []);
    if (!row) throw new CkError(CKR.CKR_TOKEN_NOT_RECOGNIZED, `${this.location} has no token record`);
    this.changeSeq = Number(row[1]);
    return JSON.parse(String(row[0])) as TokenRecord;
  }

  /** Picks up what other processes committed since we last looked. */
  private refresh(): void {
    this.guard(() => {
      const s = sqlite();
      const version = Number(s.get(this.stmt.dataVersion, [])?.[0]);
      if (version === this.dataVersion) return;
      this.dataVersion = version;
      this.record = this.loadToken();
      const seen = new Set<string>();
      for (const [id, seq] of s.all(this.stmt.versions, [])) {
        const key = String(id);
        seen.add(key);
        if (this.rows.get(key)?.seq === Number(seq)) continue;
        const body = s.get(this.stmt.object, [key]);
        if (body) this.cache(key, Number(seq), JSON.parse(String(body[0])) as SealedObject);
      }
      for (const id of [...this.rows.keys()]) {
        if (!seen.has(id)) {
          this.rows.delete(id);
          this.index.delete(id);
        }
      }
    });
  }

  private cache(id: string, seq: number, sealed: SealedObject): void {
    this.rows.set(id, { seq, sealed });
    const attributes = openObject(this.backend, this.key, id, sealed);
    if (attributes) this.index.set(id, attributes);
    else this.index.delete(id);
  }

  /**
   * One write transaction. `work` gets the token record as it is inside the
   * transaction (another process may have just changed it) and returns the
   * record to store; the change sequence orders every write of every process.
   */
  private write(work: (seq: number, current: TokenRecord) => TokenRecord): void {
    this.refresh();
    this.guard(() => {
      const s = sqlite();
      s.run(this.stmt.begin, []);
      try {
        const current = this.loadToken();
        const seq = this.changeSeq + 1;
        const next = work(seq, current);
        s.run(this.stmt.setToken, [JSON.stringify(next), seq]);
        s.run(this.stmt.commit, []);
        this.record = next;
        this.changeSeq = seq;
      } catch (e) {
        s.run(this.stmt.rollback, []);
        throw e;
      }
    });
  }

  readToken(): TokenRecord {
    this.refresh();
    return this.record;
  }

  updateToken(change: (current: TokenRecord) => TokenRecord): TokenRecord {
    this.write((_seq, current) => change(current));
    return this.record;
  }

  reinitialize(record: TokenRecord): void {
    this.write(() => {
      sqlite().run(this.stmt.deleteAll, []);
      return record;
    });
    this.rows.clear();
    this.index.clear();
  }

  objects(): ObjectIndex {
    this.refresh();
    return this.index;
  }

  private seal(id: string, attributes: AttributeMap): { sealed: SealedObject; isPrivate: boolean } {
    const isPrivate = attributes.get(CKA.CKA_PRIVATE) === true;
    return { sealed: sealObject(this.backend, this.key, id, attributes, (type) => isPrivate || isSecretAttribute(attributes, type)), isPrivate };
  }

  addObject(id: string, attributes: AttributeMap): void {
    const { sealed, isPrivate } = this.seal(id, attributes);
    this.write((seq, current) => {
      sqlite().run(this.stmt.insertObject, [id, seq, isPrivate ? 1 : 0, JSON.stringify(sealed)]);
      this.rows.set(id, { seq, sealed });
      return current;
    });
    this.index.set(id, attributes);
  }

  updateObject(id: string, change: (current: AttributeMap) => AttributeMap): AttributeMap {
    let next: AttributeMap | null = null;
    this.write((seq, current) => {
      // Read the row inside the transaction: the change applies to the object as it is now.
      const body = sqlite().get(this.stmt.object, [id]);
      if (!body) throw new CkError(CKR.CKR_OBJECT_HANDLE_INVALID, 'the object was destroyed');
      const stored = openObject(this.backend, this.key, id, JSON.parse(String(body[0])) as SealedObject);
      if (!stored) throw new CkError(CKR.CKR_USER_NOT_LOGGED_IN, 'the object is sealed');
      next = change(stored);
      const { sealed, isPrivate } = this.seal(id, next);
      sqlite().run(this.stmt.updateObject, [seq, isPrivate ? 1 : 0, JSON.stringify(sealed), id]);
      this.rows.set(id, { seq, sealed });
      return current;
    });
    const result = next as unknown as AttributeMap;
    this.index.set(id, result);
    return result;
  }

  deleteObject(id: string): void {
    this.write((_seq, current) => {
      if (sqlite().run(this.stmt.deleteObject, [id]) === 0) throw new CkError(CKR.CKR_OBJECT_HANDLE_INVALID, 'the object was destroyed');
      return current;
    });
    this.rows.delete(id);
    this.index.delete(id);
  }

  unlock(masterKey: Uint8Array): void {
    this.key = objectKey(this.backend, masterKey);
    for (const [id, row] of this.rows) if (row.sealed.e.length > 0) this.cache(id, row.seq, row.sealed);
  }

  lock(): void {
    this.key?.fill(0);
    this.key = null;
    for (const [id, row] of this.rows) if (row.sealed.e.length > 0) this.index.delete(id);
  }

  close(): void {
    this.lock();
    // Statements first: a connection with live statements cannot close or checkpoint its WAL.
    for (const stmt of Object.values(this.stmt)) sqlite().finalize(stmt);
    sqlite().close(this.db);
  }
}
