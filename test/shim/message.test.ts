/**
 * The 3.0 message-based encryption functions (C_MessageEncryptInit ...
 * C_MessageDecryptFinal) with AES-GCM and AES-CCM, through the C program
 * test/shim/message_test.c: pkcs11js has no binding for them. The program is
 * built here with cc (never a stale binary) and run once per transport. Node's
 * crypto makes the vectors it checks, and checks every ciphertext the module
 * made with an IV of its own choosing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes, type CipherCCMTypes, type CipherGCMTypes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULE_PATH, ROOT, TRANSPORTS, sandbox, type Sandbox } from '../helpers/module';

const EMBEDDER = join(ROOT, 'build', 'libcraton_embedder.so');

const key = randomBytes(32);
const iv = randomBytes(12);
const aad = randomBytes(20);
const plaintext = randomBytes(45);
const nonce = randomBytes(12);
const CCM_MAC = 12;

function gcmSeal(ivUsed: Buffer, tagLength = 16): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv('aes-256-gcm' as CipherGCMTypes, key, ivUsed, { authTagLength: tagLength });
  c.setAAD(aad);
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

function ccmSeal(nonceUsed: Buffer): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv('aes-256-ccm' as CipherCCMTypes, key, nonceUsed, { authTagLength: CCM_MAC });
  c.setAAD(aad, { plaintextLength: plaintext.length });
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return { ct, tag: c.getAuthTag() };
}

/** Node's decryption of one ciphertext the module printed; throws if the tag does not check. */
function nodeOpen(mode: string, ivUsed: Buffer, ct: Buffer, tag: Buffer): Buffer {
  const d =
    mode === 'gcm'
      ? createDecipheriv('aes-256-gcm' as CipherGCMTypes, key, ivUsed, { authTagLength: tag.length })
      : createDecipheriv('aes-256-ccm' as CipherCCMTypes, key, ivUsed, { authTagLength: tag.length });
  d.setAuthTag(tag);
  if (mode === 'gcm') d.setAAD(aad);
  else d.setAAD(aad, { plaintextLength: ct.length });
  return Buffer.concat([d.update(ct), d.final()]);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runProgram(binary: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const gcm = gcmSeal(iv);
  const ccm = ccmSeal(nonce);
  const hex = (b: Buffer) => b.toString('hex');
  const args = [
    MODULE_PATH,
    `key=${hex(key)}`,
    `iv=${hex(iv)}`,
    `aad=${hex(aad)}`,
    `pt=${hex(plaintext)}`,
    `gcm_ct=${hex(gcm.ct)}`,
    `gcm_tag=${hex(gcm.tag)}`,
    `nonce=${hex(nonce)}`,
    `ccm_ct=${hex(ccm.ct)}`,
    `ccm_mac=${hex(ccm.tag)}`,
  ];
  return new Promise((resolve) => {
    execFile(binary, args, { env, timeout: 150_000, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const e = error as (Error & { code?: number | string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

let dir: string;
let binary: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'craton-message-'));
  binary = join(dir, 'craton_message_test');
  execFileSync(
    process.env.CC ?? 'cc',
    ['-std=c11', '-g', '-O1', '-Wall', '-Wextra', '-Wno-unused-parameter', '-I', join(ROOT, 'shim'), '-o', binary, join(ROOT, 'test/shim/message_test.c'), '-ldl'],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(TRANSPORTS)('message-based encryption from C (%s transport)', (transport) => {
  let box: Sandbox;
  beforeAll(() => {
    box = sandbox(transport);
  });
  afterAll(() => box.cleanup());

  const skip = !existsSync(MODULE_PATH) || (transport === 'embedded' && !existsSync(EMBEDDER));
  it.skipIf(skip)(
    'passes every check, and Node opens every message the module sealed with its own IV',
    async () => {
      const run = await runProgram(binary, box.env);
      const lines = run.stdout.split('\n');
      const context = `${lines.filter((l) => l.startsWith('FAIL')).join('\n')}\n--- stdout tail ---\n${run.stdout.slice(-3000)}\n--- stderr tail ---\n${run.stderr.slice(-2000)}`;
      const summary = /^(\d+) passed, (\d+) failed$/m.exec(run.stdout);
      expect(summary, context).not.toBeNull();
      expect(Number(summary?.[1]), context).toBeGreaterThan(150);
      expect(summary?.[2], context).toBe('0');
      expect(run.code, context).toBe(0);

      const vectors = lines.filter((l) => l.startsWith('vec ')).map((l) => l.split(' ').slice(1));
      const byMode = (mode: string) => vectors.filter(([m]) => m === mode);
      // 8 GCM messages in the first session, 258 in the second; 2 CCM ones.
      expect(byMode('gcm').length).toBe(266);
      expect(byMode('ccm').length).toBe(2);
      for (const [mode, ivHex, aadHex, ptHex, ctHex, tagHex] of vectors) {
        const unhex = (s = '') => Buffer.from(s === '-' ? '' : s, 'hex');
        expect(unhex(aadHex)).toEqual(aad);
        expect(unhex(ptHex)).toEqual(plaintext);
        expect(nodeOpen(mode ?? '', unhex(ivHex), unhex(ctHex), unhex(tagHex)), `${mode} IV ${ivHex}`).toEqual(plaintext);
      }
      // Every IV the module generated in this run is different (the one given IV is too).
      const ivs = byMode('gcm').map(([, ivHex]) => ivHex);
      expect(new Set(ivs).size).toBe(ivs.length);
    },
    180_000,
  );
});
