/** OpenSC pkcs11-tool drives the module, each command its own process, through both transports. */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SO_PIN, TRANSPORTS, USER_PIN, initialisedToken, pkcs11Tool, sandbox, type Sandbox } from '../helpers/module';

describe.each(TRANSPORTS)('pkcs11-tool (%s transport)', (transport) => {
  let box: Sandbox;
  beforeEach(() => {
    box = sandbox(transport);
  });
  afterEach(() => box.cleanup());

  it('shows the module info and an uninitialised slot', async () => {
    const info = await pkcs11Tool(box.env, '--show-info');
    expect(info.code).toBe(0);
    expect(info.stdout).toMatch(/Cryptoki version 3\.0/);
    expect(info.stdout).toMatch(/Manufacturer\s+Craton HSM/);
    const slots = await pkcs11Tool(box.env, '--list-slots');
    expect(slots.stdout).toMatch(/Slot 0 \(0x0\): Craton HSM software slot 0/);
    expect(slots.stdout).toMatch(/uninitialized/);
  });

  it('initialises the token, sets and changes PINs, and persists across processes', async () => {
    await initialisedToken(box.env);
    const slots = await pkcs11Tool(box.env, '--list-token-slots');
    expect(slots.stdout).toMatch(/token label\s+: test/);
    expect(slots.stdout).toMatch(/PIN initialized/);
    const change = await pkcs11Tool(box.env, '--change-pin', '--login', '--pin', USER_PIN, '--new-pin', '5678');
    expect(change.code).toBe(0);
    const oldPin = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--list-objects');
    expect(oldPin.code).not.toBe(0);
    expect(oldPin.stderr).toMatch(/CKR_PIN_INCORRECT/);
    const newPin = await pkcs11Tool(box.env, '--login', '--pin', '5678', '--list-objects');
    expect(newPin.code).toBe(0);
    const wrongSo = await pkcs11Tool(box.env, '--init-pin', '--login', '--so-pin', '00000000', '--pin', USER_PIN);
    expect(wrongSo.stderr).toMatch(/CKR_PIN_INCORRECT/);
    expect(SO_PIN).not.toBe('00000000');
  });

  it('writes, lists, reads and deletes data objects', async () => {
    await initialisedToken(box.env);
    const file = join(box.dir, 'payload.bin');
    const payload = Buffer.from('craton data object payload\n');
    writeFileSync(file, payload);
    const write = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--write-object', file, '--type', 'data', '--label', 'blob');
    expect(write.code).toBe(0);
    const list = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--list-objects');
    expect(list.stdout).toMatch(/Data object \d+\s+label:\s+'blob'/);
    const read = await pkcs11Tool(box.env, '--read-object', '--type', 'data', '--label', 'blob');
    expect(read.code).toBe(0);
    expect(Buffer.from(read.stdout, 'latin1')).toEqual(payload);
    const del = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--delete-object', '--type', 'data', '--label', 'blob');
    expect(del.code).toBe(0);
    const after = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--list-objects');
    expect(after.stdout).not.toMatch(/blob/);
  });

  it('generates random bytes and hashes like sha256sum', async () => {
    await initialisedToken(box.env);
    const random = await pkcs11Tool(box.env, '--generate-random', '32');
    expect(random.code).toBe(0);
    expect(Buffer.from(random.stdout, 'latin1').length).toBe(32);
    const file = join(box.dir, 'in.txt');
    writeFileSync(file, 'abc');
    const hash = await pkcs11Tool(box.env, '--hash', '-m', 'SHA256', '-i', file);
    expect(Buffer.from(hash.stdout, 'latin1').toString('hex')).toBe(createHash('sha256').update('abc').digest('hex'));
  });

  it('passes --test-fork', async () => {
    await initialisedToken(box.env);
    const fork = await pkcs11Tool(box.env, '--test-fork');
    expect(fork.code).toBe(0);
    expect(fork.stdout + fork.stderr).toMatch(/Calling C_Initialize in forked child process/);
  });
});
