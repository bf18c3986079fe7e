/**
 * The audit log's chain: appends from several processes at once keep one
 * unbroken chain, and verification names an edited, deleted, reordered or
 * truncated record.
 */
import { execFile } from 'node:child_process';
import { buildSync } from 'esbuild';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AuditLog, GENESIS_HASH, headPath, sha256Hex } from '../../src/audit/audit-log';
import { verifyAuditLog } from '../../src/audit/audit-verify';

const run = promisify(execFile);

function freshLog(records: number): string {
  const path = join(mkdtempSync(join(tmpdir(), 'craton-audit-')), 'audit.ndjson');
  const log = new AuditLog(path);
  for (let i = 0; i < records; i++) log.append({ operation: 'Sign', slot: 0, session: i + 1, mechanism: 7, fipsApproved: true, result: 'Success' });
  log.close();
  return path;
}

const lines = (path: string) => readFileSync(path, 'utf8').trimEnd().split('\n');
const rewrite = (path: string, ls: string[]) => writeFileSync(path, `${ls.join('\n')}\n`);

describe('AuditLog', () => {
  it('writes records shaped as seed 004 shows, chained from the genesis hash', () => {
    const path = freshLog(3);
    const [first, second] = lines(path).map((l) => JSON.parse(l));
    expect(first).toMatchObject({ seq: 1, pid: process.pid, slot: 0, session: 1, operation: { Sign: { mechanism: 7, fips_approved: true } }, result: 'Success', prev_hash: GENESIS_HASH });
    expect(second.prev_hash).toBe(sha256Hex(lines(path)[0] as string));
    expect(verifyAuditLog(path)).toEqual({ ok: true, records: 3, problems: [], notes: [] });
    expect(JSON.parse(readFileSync(headPath(path), 'utf8'))).toEqual({ records: 3, last_hash: sha256Hex(lines(path)[2] as string) });
  });

  it('keeps one chain when four processes append at once', async () => {
    const path = freshLog(0);
    const root = join(__dirname, '..', '..');
    const writer = join(mkdtempSync(join(tmpdir(), 'craton-audit-writer-')), 'writer.js');
    buildSync({
      stdin: {
        contents: `import { AuditLog } from './src/audit/audit-log';
          const log = new AuditLog(process.argv[2]);
          for (let i = 0; i < 50; i++) log.append({ operation: 'Encrypt', slot: 0, session: i, mechanism: 4229, fipsApproved: true, result: 'Success' });`,
        resolveDir: root,
        loader: 'ts',
      },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile: writer,
      logLevel: 'error',
    });
    await Promise.all([1, 2, 3, 4].map(() => run(process.execPath, [writer, path], { cwd: root })));
    const verdict = verifyAuditLog(path);
    expect(verdict.problems).toEqual([]);
    expect(verdict.records).toBe(200);
    expect(new Set(lines(path).map((l) => JSON.parse(l).pid)).size).toBe(4);
  });

  it('names an edited record', () => {
    const path = freshLog(5);
    const ls = lines(path);
    ls[2] = (ls[2] as string).replace('"Success"', '"CKR_GENERAL_ERROR"');
    rewrite(path, ls);
    expect(verifyAuditLog(path).problems).toEqual(['record 4 (line 4) does not chain to the record before it: record 3 was edited']);
  });

  it('names an edited last record through the head file', () => {
    const path = freshLog(3);
    const ls = lines(path);
    ls[2] = (ls[2] as string).replace('"fips_approved":true', '"fips_approved":false');
    rewrite(path, ls);
    expect(verifyAuditLog(path).problems).toEqual(["record 3, the last, was edited (its hash differs from the head file's)"]);
  });

  it('names a deleted record', () => {
    const path = freshLog(5);
    const ls = lines(path);
    ls.splice(1, 1);
    rewrite(path, ls);
    expect(verifyAuditLog(path).problems).toEqual(['record 2 is missing before record 3 (line 2): deleted']);
  });

  it('names reordered records', () => {
    const path = freshLog(4);
    const ls = lines(path);
    [ls[1], ls[2]] = [ls[2] as string, ls[1] as string];
    rewrite(path, ls);
    expect(verifyAuditLog(path).problems).toContain('record 2 (line 3) comes after record 3: reordered or duplicated');
  });

  it('names a truncated tail, and a record cut in half', () => {
    const path = freshLog(5);
    rewrite(path, lines(path).slice(0, 3));
    expect(verifyAuditLog(path).problems).toEqual(['the log ends at record 3 but 5 were written: truncated']);
    const half = freshLog(2);
    const text = readFileSync(half, 'utf8');
    writeFileSync(half, text.slice(0, text.length - 20));
    expect(verifyAuditLog(half).ok).toBe(false);
    expect(verifyAuditLog(half).problems[0]).toMatch(/incomplete: the log was cut off inside a record/);
  });
});
