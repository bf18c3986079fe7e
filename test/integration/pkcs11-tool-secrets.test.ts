/** pkcs11-tool stores a secret key and uses a PIN: neither appears in the token files or the logs. */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SO_PIN, pkcs11Tool, sandbox, type Sandbox } from '../helpers/module';

const PIN = 'Zebra-Quartz-7731';

describe.each(['embedded', 'process'] as const)('secrets at rest through pkcs11-tool (%s)', (transport) => {
  let box: Sandbox;
  beforeEach(() => {
    box = sandbox(transport, {}, '[logging]\nlevel = "debug"\n');
  });
  afterEach(() => box.cleanup());

  it('keeps the key value and the PIN out of every file and log line', async () => {
    const logs: string[] = [];
    const run = async (...args: string[]) => {
      const r = await pkcs11Tool(box.env, ...args);
      logs.push(r.stderr);
      return r;
    };
    expect((await run('--init-token', '--label', 't', '--so-pin', SO_PIN)).code).toBe(0);
    expect((await run('--init-pin', '--login', '--so-pin', SO_PIN, '--pin', PIN)).code).toBe(0);
    const key = Buffer.alloc(32);
    for (let i = 0; i < key.length; i++) key[i] = (i * 37 + 11) & 0xff;
    const keyFile = join(box.dir, 'key.bin');
    writeFileSync(keyFile, key);
    expect((await run('--login', '--pin', PIN, '--write-object', keyFile, '--type', 'secrkey', '--key-type', 'AES:32', '--label', 'k')).code).toBe(0);
    const listed = await run('--login', '--pin', PIN, '--list-objects', '--type', 'secrkey');
    expect(listed.stdout).toMatch(/label:\s+k/);
    const tokens = join(box.dir, 'tokens');
    for (const f of readdirSync(tokens)) {
      const raw = readFileSync(join(tokens, f));
      expect(raw.includes(key), `${f} holds the key`).toBe(false);
      expect(raw.includes(Buffer.from(key.toString('hex'))), `${f} holds the key in hex`).toBe(false);
      expect(raw.includes(Buffer.from(PIN)), `${f} holds the PIN`).toBe(false);
    }
    expect(logs.join('')).not.toContain(PIN);
    expect(logs.join('')).not.toContain(key.toString('hex'));
  });
});
