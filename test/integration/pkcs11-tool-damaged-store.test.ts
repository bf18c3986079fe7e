/** A damaged token database, seen through pkcs11-tool: a clean error naming the file, and the file left alone. */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { USER_PIN, initialisedToken, pkcs11Tool, sandbox, type Sandbox } from '../helpers/module';

describe.each(['embedded', 'process'] as const)('damaged token database (pkcs11-tool, %s)', (transport) => {
  let box: Sandbox;
  beforeEach(() => {
    box = sandbox(transport);
  });
  afterEach(() => box.cleanup());

  it.each([
    ['overwritten with garbage', (raw: Buffer) => Buffer.alloc(raw.length, 0x41)],
    ['truncated', (raw: Buffer) => raw.subarray(0, 1000)],
  ])('%s: CKR_TOKEN_NOT_RECOGNIZED or CKR_DEVICE_ERROR, a log line naming it, nothing rewritten', async (_name, damage) => {
    await initialisedToken(box.env);
    const file = join(box.dir, 'tokens', 'token-0.sqlite');
    writeFileSync(file, damage(readFileSync(file)));
    const before = createHash('sha256').update(readFileSync(file)).digest('hex');
    const r = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--list-objects');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/CKR_TOKEN_NOT_RECOGNIZED|CKR_DEVICE_ERROR/);
    expect(r.stderr).toContain(file);
    // The module still answers what does not need the token.
    expect((await pkcs11Tool(box.env, '--show-info')).code).toBe(0);
    expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(before);
  });
});
