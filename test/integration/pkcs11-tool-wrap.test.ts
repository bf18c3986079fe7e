/**
 * pkcs11-tool --wrap and --unwrap: an AES key wrapped under AES-KEY-WRAP is what
 * `openssl enc -id-aes256-wrap` makes, and keys unwrapped from openssl's
 * AES key wrap and RSA PKCS #1 v1.5 encryption encrypt as the original key does.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRANSPORTS, USER_PIN, initialisedToken, pkcs11Tool, runTool, sandbox, type Sandbox } from '../helpers/module';

describe.each(TRANSPORTS)('wrapping through pkcs11-tool, checked by openssl (%s)', (transport) => {
  let box: Sandbox;
  const file = (name: string) => join(box.dir, name);
  const user = (...args: string[]) => pkcs11Tool(box.env, '--login', '--pin', USER_PIN, ...args);
  const kek = randomBytes(32);
  const target = randomBytes(16);
  const block = randomBytes(16);

  /** AES-ECB of one block under the key with this id, through pkcs11-tool. */
  async function ecbUnder(id: string): Promise<Buffer> {
    writeFileSync(file('block.bin'), block);
    const r = await user('--encrypt', '-m', 'AES-ECB', '--id', id, '-i', file('block.bin'), '-o', file(`block-${id}.enc`));
    expect(r.code, r.stderr).toBe(0);
    return readFileSync(file(`block-${id}.enc`));
  }

  const openssl = (...args: string[]) => runTool('openssl', args, box.env);

  beforeAll(async () => {
    box = sandbox(transport);
    await initialisedToken(box.env);
    writeFileSync(file('kek.bin'), kek);
    writeFileSync(file('target.bin'), target);
    for (const [value, id, label, extra] of [
      ['kek.bin', '11', 'kek', ['--usage-wrap']],
      ['target.bin', '12', 'target', ['--extractable']],
    ] as const) {
      const r = await user('--write-object', file(value), '--type', 'secrkey', '--key-type', `AES:${value === 'kek.bin' ? 32 : 16}`, '--id', id, '--label', label, ...extra);
      expect(r.code, r.stderr).toBe(0);
    }
  });
  afterAll(() => box.cleanup());

  it('wraps an extractable AES key exactly as openssl does (RFC 3394)', async () => {
    const r = await user('--wrap', '-m', 'AES-KEY-WRAP', '--id', '11', '--application-id', '12', '-o', file('wrapped.bin'));
    expect(r.code, r.stderr).toBe(0);
    const ours = readFileSync(file('wrapped.bin'));
    const theirs = await runTool('openssl', ['enc', '-id-aes256-wrap', '-iv', 'A6A6A6A6A6A6A6A6', '-K', kek.toString('hex'), '-in', file('target.bin')], box.env);
    expect(ours.toString('latin1')).toBe(theirs.stdout);
  });

  it('unwraps what openssl wrapped into a key that encrypts as the original', async () => {
    const wrapped = await runTool('openssl', ['enc', '-id-aes256-wrap', '-iv', 'A6A6A6A6A6A6A6A6', '-K', kek.toString('hex'), '-in', file('target.bin'), '-out', file('from-openssl.bin')], box.env);
    expect(wrapped.code, wrapped.stderr).toBe(0);
    const r = await user('--unwrap', '-m', 'AES-KEY-WRAP', '--id', '11', '-i', file('from-openssl.bin'), '--key-type', 'AES:', '--application-id', '13', '--application-label', 'unwrapped');
    expect(r.code, r.stderr).toBe(0);
    expect(await ecbUnder('13')).toEqual(await ecbUnder('12'));
  });

  it('unwraps an AES key openssl encrypted to the token RSA key (RSA-PKCS)', async () => {
    const gen = await user('--keypairgen', '--key-type', 'RSA:2048', '--id', '22', '--label', 'rsa-unwrap', '--usage-wrap');
    expect(gen.code, gen.stderr).toBe(0);
    expect((await pkcs11Tool(box.env, '--read-object', '--type', 'pubkey', '--id', '22', '-o', file('rsa.der'))).code).toBe(0);
    const enc = await openssl('pkeyutl', '-encrypt', '-pubin', '-keyform', 'DER', '-inkey', file('rsa.der'), '-pkeyopt', 'rsa_padding_mode:pkcs1', '-in', file('target.bin'), '-out', file('rsa-wrapped.bin'));
    expect(enc.code, enc.stderr).toBe(0);
    const r = await user('--unwrap', '-m', 'RSA-PKCS', '--id', '22', '-i', file('rsa-wrapped.bin'), '--key-type', 'AES:', '--application-id', '23', '--application-label', 'from-rsa');
    expect(r.code, r.stderr).toBe(0);
    expect(await ecbUnder('23')).toEqual(await ecbUnder('12'));
  });
});
