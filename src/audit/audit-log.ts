/**
 * The audit log: NDJSON, one record per significant event, each carrying
 * the SHA-256 of the record before it (`prev_hash`) and a sequence number,
 * so that `craton-admin audit verify` finds an edited, deleted, reordered or
 * truncated record. Several processes append to one file: each append
 * holds the file's exclusive lock while it reads the last record and writes
 * its own, and then rewrites the head file (`<log>.head`: the count and the
 * hash of the last record), which is what reveals a cut-off tail.
 * Records never hold a PIN or a key value: only the fields below.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { withFileLock } from '../platform/os-services';

export const GENESIS_HASH = '0'.repeat(64);
/** Longest record line; a longer one is a damaged log. */
const MAX_RECORD_BYTES = 16 * 1024;

export interface AuditEvent {
  /** "Sign", "Login", "GenerateKeyPair", "SelfTest"... */
  readonly operation: string;
  readonly slot: number | null;
  readonly session: number | null;
  readonly mechanism: number | null;
  /** The algorithm indicator; null for an event that is not a cryptographic operation. */
  readonly fipsApproved: boolean | null;
  /** "Success", or the CK_RV's name. */
  readonly result: string;
  /** Further non-secret facts (the user type of a login, a self-test's name). */
  readonly detail?: Readonly<Record<string, string | number | boolean>>;
}

/** One record as written. The operation's fields sit under its name, as in seed 004's example. */
export interface AuditRecord {
  readonly seq: number;
  readonly time: string;
  readonly pid: number;
  readonly slot: number | null;
  readonly session: number | null;
  readonly operation: Record<string, { mechanism: number | null; fips_approved: boolean | null } & Record<string, unknown>>;
  readonly result: string;
  readonly prev_hash: string;
}

export interface AuditHead {
  readonly records: number;
  readonly last_hash: string;
}

export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

export const headPath = (logPath: string): string => `${logPath}.head`;

/** The last complete line of a file of `size` bytes open as `fd`, or null when it is empty. */
function lastLine(fd: number, size: number): string | null {
  if (size === 0) return null;
  const span = Math.min(size, MAX_RECORD_BYTES + 1);
  const tail = Buffer.alloc(span);
  readSync(fd, tail, 0, span, size - span);
  const end = tail[span - 1] === 0x0a ? span - 1 : span;
  const start = tail.lastIndexOf(0x0a, end - 1) + 1;
  return tail.subarray(start, end).toString('utf8');
}

export class AuditLog {
  private fd: number | null = null;
  private headFd: number | null = null;

  constructor(readonly path: string) {}

  append(event: AuditEvent): void {
    const fd = this.open();
    withFileLock(fd, () => {
      const previous = lastLine(fd, fstatSync(fd).size);
      const seq = previous === null ? 1 : seqOf(previous) + 1;
      const record: AuditRecord = {
        seq,
        time: new Date().toISOString(),
        pid: process.pid,
        slot: event.slot,
        session: event.session,
        operation: { [event.operation]: { mechanism: event.mechanism, fips_approved: event.fipsApproved, ...event.detail } },
        result: event.result,
        prev_hash: previous === null ? GENESIS_HASH : sha256Hex(previous),
      };
      const line = JSON.stringify(record);
      writeSync(fd, `${line}\n`);
      this.writeHead({ records: seq, last_hash: sha256Hex(line) });
    });
  }

  close(): void {
    for (const fd of [this.fd, this.headFd]) if (fd !== null) closeSync(fd);
    this.fd = null;
    this.headFd = null;
  }

  private open(): number {
    if (this.fd === null) {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      this.fd = openSync(this.path, 'a+', 0o600);
      this.headFd = openSync(headPath(this.path), 'a+', 0o600);
    }
    return this.fd;
  }

  private writeHead(head: AuditHead): void {
    const fd = this.headFd as number;
    const text = `${JSON.stringify(head)}\n`;
    ftruncateSync(fd, 0);
    writeSync(fd, text, 0);
  }
}

/** The sequence number of a record line; a line that is not a record restarts nothing and is caught by verification. */
function seqOf(line: string): number {
  try {
    const seq = (JSON.parse(line) as { seq?: unknown }).seq;
    return typeof seq === 'number' && Number.isSafeInteger(seq) ? seq : 0;
  } catch {
    return 0;
  }
}
