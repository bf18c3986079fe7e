/**
 * Checks an audit log's chain (craton-admin audit verify): every record
 * names the hash of the one before it and the next sequence number, and the
 * head file names the last record. Each problem says which record it is.
 */
import { existsSync, readFileSync } from 'node:fs';
import { GENESIS_HASH, headPath, sha256Hex, type AuditHead, type AuditRecord } from './audit-log';

export interface AuditVerdict {
  readonly ok: boolean;
  readonly records: number;
  readonly problems: readonly string[];
  /** Facts that are not tampering (a writer killed between its record and the head). */
  readonly notes: readonly string[];
}

function parse(line: string): Partial<AuditRecord> | null {
  try {
    const r = JSON.parse(line) as unknown;
    return typeof r === 'object' && r !== null ? (r as Partial<AuditRecord>) : null;
  } catch {
    return null;
  }
}

export function verifyAuditLog(path: string): AuditVerdict {
  const problems: string[] = [];
  const notes: string[] = [];
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const lines = text.split('\n');
  const complete = lines.pop() === '';
  if (!complete) problems.push(`the last record (line ${lines.length + 1}) is incomplete: the log was cut off inside a record`);
  let expectedSeq = 1;
  let previousLine: string | null = null;
  lines.forEach((line, index) => {
    const at = `line ${index + 1}`;
    const record = parse(line);
    if (!record || typeof record.seq !== 'number' || typeof record.prev_hash !== 'string') {
      problems.push(`${at} is not an audit record: it was edited or damaged`);
    } else {
      if (record.seq > expectedSeq) {
        const gap = record.seq - expectedSeq === 1 ? `record ${expectedSeq} is` : `records ${expectedSeq} to ${record.seq - 1} are`;
        problems.push(`${gap} missing before record ${record.seq} (${at}): deleted`);
      } else if (record.seq < expectedSeq) {
        problems.push(`record ${record.seq} (${at}) comes after record ${expectedSeq - 1}: reordered or duplicated`);
      }
      const wanted = previousLine === null ? GENESIS_HASH : sha256Hex(previousLine);
      if (record.prev_hash !== wanted && record.seq === expectedSeq) {
        problems.push(
          previousLine === null
            ? `record ${record.seq} (${at}) does not start the chain: earlier records were removed`
            : `record ${record.seq} (${at}) does not chain to the record before it: record ${record.seq - 1} was edited`,
        );
      }
      expectedSeq = record.seq + 1;
    }
    previousLine = line;
  });
  const records = lines.length;
  checkHead(path, expectedSeq - 1, previousLine, problems, notes);
  return { ok: problems.length === 0, records, problems, notes };
}

function checkHead(path: string, lastSeq: number, lastLine: string | null, problems: string[], notes: string[]): void {
  const file = headPath(path);
  if (!existsSync(file)) {
    if (lastSeq > 0) problems.push(`the head file ${file} is missing`);
    return;
  }
  let head: Partial<AuditHead>;
  try {
    head = JSON.parse(readFileSync(file, 'utf8')) as Partial<AuditHead>;
  } catch {
    problems.push(`the head file ${file} is damaged`);
    return;
  }
  if (typeof head.records !== 'number') {
    problems.push(`the head file ${file} is damaged`);
  } else if (head.records > lastSeq) {
    problems.push(`the log ends at record ${lastSeq} but ${head.records} were written: truncated`);
  } else if (head.records === lastSeq - 1) {
    notes.push(`the head file is one record behind: a writer stopped between writing record ${lastSeq} and the head`);
  } else if (head.records < lastSeq) {
    problems.push(`the head file names record ${head.records} as the last, but the log goes on to record ${lastSeq}`);
  } else if (lastLine !== null && head.last_hash !== sha256Hex(lastLine)) {
    problems.push(`record ${lastSeq}, the last, was edited (its hash differs from the head file's)`);
  }
}
