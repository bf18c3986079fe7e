/**
 * A token kept in one JSON file, replaced atomically (write, fsync, rename)
 * under a lock directory so that processes take turns. Readers reload only
 * when the file changed. A stopgap until the SQLite store lands; it keeps
 * the same TokenStore interface.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import { fromJson, toJson, type JsonValue } from '../objects/attribute-value';
import { freshTokenRecord, type StoredObject, type TokenRecord, type TokenStore } from './token-store';

const FORMAT = 1;
const LOCK_STALE_MS = 10_000;

interface FileImage {
  format: number;
  token: TokenRecord;
  objects: { id: string; attributes: [number, JsonValue][] }[];
}

export class FileTokenStore implements TokenStore {
  readonly location: string;
  private readonly lockPath: string;
  private image: FileImage;
  private stamp = '';

  constructor(directory: string, slotId: number, serial: string) {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    this.location = join(directory, `token-${slotId}.json`);
    this.lockPath = `${this.location}.lock`;
    this.image = { format: FORMAT, token: freshTokenRecord(serial), objects: [] };
    if (!existsSync(this.location)) this.withLock(() => existsSync(this.location) || this.write(this.image));
    this.refresh();
  }

  readToken(): TokenRecord {
    this.refresh();
    return this.image.token;
  }

  updateToken(change: (current: TokenRecord) => TokenRecord): TokenRecord {
    return this.mutate((img) => {
      img.token = change(img.token);
    }).token;
  }

  listObjects(): readonly StoredObject[] {
    this.refresh();
    return this.image.objects.map((o) => ({ id: o.id, attributes: new Map(o.attributes.map(([t, v]) => [t, fromJson(v)])) }));
  }

  putObject(object: StoredObject): void {
    const entry = { id: object.id, attributes: [...object.attributes].map(([t, v]): [number, JsonValue] => [t, toJson(v)]) };
    this.mutate((img) => {
      const i = img.objects.findIndex((o) => o.id === object.id);
      if (i >= 0) img.objects[i] = entry;
      else img.objects.push(entry);
    });
  }

  deleteObject(id: string): void {
    this.mutate((img) => {
      img.objects = img.objects.filter((o) => o.id !== id);
    });
  }

  reinitialize(record: TokenRecord): void {
    this.mutate((img) => {
      img.token = record;
      img.objects = [];
    });
  }

  close(): void {}

  private mutate(change: (img: FileImage) => void): FileImage {
    return this.withLock(() => {
      this.refresh();
      const next: FileImage = structuredClone(this.image);
      change(next);
      this.write(next);
      this.image = next;
      this.stamp = this.currentStamp();
      return next;
    });
  }

  private currentStamp(): string {
    const st = statSync(this.location, { bigint: true });
    return `${st.mtimeNs}:${st.size}:${st.ino}`;
  }

  private refresh(): void {
    const stamp = this.currentStamp();
    if (stamp === this.stamp) return;
    let parsed: FileImage;
    try {
      parsed = JSON.parse(readFileSync(this.location, 'utf8')) as FileImage;
    } catch (e) {
      throw new CkError(CKR.CKR_DEVICE_ERROR, `token file ${this.location} is unreadable: ${(e as Error).message}`);
    }
    if (parsed.format !== FORMAT) throw new CkError(CKR.CKR_TOKEN_NOT_RECOGNIZED, `token file ${this.location} has format ${parsed.format}`);
    this.image = parsed;
    this.stamp = stamp;
  }

  private write(img: FileImage): void {
    const tmp = `${this.location}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(img));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.location);
  }

  private withLock<T>(work: () => T): T {
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        mkdirSync(this.lockPath);
        break;
      } catch {
        try {
          if (Date.now() - statSync(this.lockPath).mtimeMs > LOCK_STALE_MS) rmdirSync(this.lockPath);
        } catch {
          // Another process removed it first.
        }
        if (Date.now() > deadline) throw new CkError(CKR.CKR_DEVICE_ERROR, `token ${this.location} stayed locked`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      }
    }
    try {
      return work();
    } finally {
      rmdirSync(this.lockPath);
    }
  }
}
