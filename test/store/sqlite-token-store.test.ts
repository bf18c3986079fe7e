/** The SQLite token store on its own: persistence, visibility, change detection, bad files, secrets on disk. */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CKA, CKK, CKO, CKR } from '../../src/generated/constants';
import { CkError } from '../../src/ck-error';
import { loadAddon, loadLibcryptoBackend } from '../../src/backends/libcrypto';
import { newMasterKey } from '../../src/store/at-rest';
import { SCHEMA_VERSION, SqliteTokenStore } from '../../src/store/sqlite-token-store';
import type { AttributeMap, AttributeValue } from '../../src/objects/attribute-value';

const backend = loadLibcryptoBackend();
const text = (s: string) => new TextEncoder().encode(s);
const attrs = (...e: [number, AttributeValue][]): AttributeMap => new Map(e);
const dataObject = (label: string, isPrivate = false) =>
  attrs([CKA.CKA_CLASS, CKO.CKO_DATA], [CKA.CKA_TOKEN, true], [CKA.CKA_PRIVATE, isPrivate], [CKA.CKA_LABEL, text(label)], [CKA.CKA_VALUE, text(`value of ${label}`)]);

function rvOf(f: () => unknown): number {
  try {
    f();
    return CKR.CKR_OK;
  } catch (e) {
    if (e instanceof CkError) return e.rv;
    throw e;
  }
}

describe('SqliteTokenStore', () => {
  let dir: string;
  const open = () => new SqliteTokenStore(dir, 0, '0123456789abcdef', backend);
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'craton-store-'));
  });
  afterEach(() => undefined);

  it('keeps objects across instances and finds them through the indexes', () => {
    const a = open();
    a.addObject('id-1', dataObject('first'));
    a.addObject('id-2', dataObject('second'));
    a.close();
    const b = open();
    expect(b.objects().size).toBe(2);
    expect(b.objects().find(attrs([CKA.CKA_LABEL, text('second')]))).toEqual(['id-2']);
    expect(b.objects().find(attrs([CKA.CKA_CLASS, CKO.CKO_DATA], [CKA.CKA_LABEL, text('nope')]))).toEqual([]);
    expect(b.objects().find(attrs([CKA.CKA_VALUE, text('value of first')]))).toEqual(['id-1']);
    b.close();
  });

  it('sees what another connection committed, and nothing it rolled back', () => {
    const a = open();
    const b = open();
    a.addObject('id-1', dataObject('shared'));
    expect(b.objects().get('id-1')?.get(CKA.CKA_LABEL)).toEqual(text('shared'));
    b.updateObject('id-1', () => dataObject('renamed'));
    expect(a.objects().get('id-1')?.get(CKA.CKA_LABEL)).toEqual(text('renamed'));
    a.deleteObject('id-1');
    expect(b.objects().get('id-1')).toBeUndefined();
    // A change to an object another connection destroyed does not bring it back.
    expect(rvOf(() => b.updateObject('id-1', () => dataObject('zombie')))).toBe(CKR.CKR_OBJECT_HANDLE_INVALID);
    expect(rvOf(() => b.deleteObject('id-1'))).toBe(CKR.CKR_OBJECT_HANDLE_INVALID);
    expect(a.objects().get('id-1')).toBeUndefined();
    b.updateToken((r) => ({ ...r, userFailures: r.userFailures + 1 }));
    expect(a.readToken().userFailures).toBe(1);
    a.close();
    b.close();
  });

  it('keeps private objects and secret values sealed until unlocked', () => {
    const master = newMasterKey(backend);
    const a = open();
    expect(rvOf(() => a.addObject('p-1', dataObject('hidden', true)))).toBe(CKR.CKR_USER_NOT_LOGGED_IN);
    a.unlock(master);
    a.addObject('p-1', dataObject('hidden', true));
    const key = new Uint8Array(32).fill(0x5c);
    a.addObject('k-1', attrs([CKA.CKA_CLASS, CKO.CKO_SECRET_KEY], [CKA.CKA_KEY_TYPE, CKK.CKK_AES], [CKA.CKA_TOKEN, true], [CKA.CKA_PRIVATE, false], [CKA.CKA_VALUE, key]));
    const b = open();
    expect(b.objects().get('p-1')).toBeUndefined();
    expect(b.objects().get('k-1')).toBeUndefined();
    b.unlock(master);
    expect(b.objects().get('p-1')?.get(CKA.CKA_LABEL)).toEqual(text('hidden'));
    expect(b.objects().get('k-1')?.get(CKA.CKA_VALUE)).toEqual(key);
    b.lock();
    expect(b.objects().get('k-1')).toBeUndefined();
    // Nothing secret in the database or its WAL, while both connections are open.
    for (const f of readdirSync(dir)) {
      const raw = readFileSync(join(dir, f));
      expect(raw.includes(Buffer.from(key)), f).toBe(false);
      expect(raw.includes(Buffer.from(key).toString('hex')), f).toBe(false);
      expect(raw.includes(Buffer.from('hidden')), f).toBe(false);
    }
    a.close();
    b.close();
  });

  it('refuses a database with a newer schema', () => {
    open().close();
    const sqlite = loadAddon<{ open(p: string, ro: boolean): unknown; exec(db: unknown, sql: string): void; close(db: unknown): void }>(undefined, 'craton_sqlite.node').addon;
    const db = sqlite.open(join(dir, 'token-0.sqlite'), false);
    sqlite.exec(db, `PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    sqlite.close(db);
    expect(rvOf(open)).toBe(CKR.CKR_TOKEN_NOT_RECOGNIZED);
  });

  it.each([
    ['garbage', (f: string) => writeFileSync(f, Buffer.alloc(8192, 0x41))],
    ['truncated', (f: string) => writeFileSync(f, readFileSync(f).subarray(0, 1000))],
  ])('gives a clean error for a %s file and leaves it untouched', (_name, damage) => {
    const a = open();
    a.addObject('id-1', dataObject('x'));
    a.close();
    const file = join(dir, 'token-0.sqlite');
    damage(file);
    const before = createHash('sha256').update(readFileSync(file)).digest('hex');
    const rv = rvOf(open);
    expect([CKR.CKR_TOKEN_NOT_RECOGNIZED, CKR.CKR_DEVICE_ERROR]).toContain(rv);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(before);
    expect(existsSync(file)).toBe(true);
  });
});
