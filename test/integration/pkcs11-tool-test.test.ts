/** `pkcs11-tool --test`, OpenSC's own self-test, on a token holding RSA, EC and AES keys; and `--test-threads`. */
import { describe, expect, it } from 'vitest';
import { TRANSPORTS, USER_PIN, generateKeyPair, initialisedToken, pkcs11Tool, sandbox } from '../helpers/module';

describe.each(TRANSPORTS)('pkcs11-tool --test (%s)', (transport) => {
  it('runs the whole self-test without an error', async () => {
    const box = sandbox(transport);
    try {
      await initialisedToken(box.env);
      await generateKeyPair(box.env, 'RSA:2048', '01', 'rsa');
      await generateKeyPair(box.env, 'EC:prime256v1', '02', 'ec');
      const aes = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--keygen', '--key-type', 'AES:32', '--id', '03', '--label', 'aes');
      expect(aes.code, aes.stderr).toBe(0);

      const r = await pkcs11Tool(box.env, '--login', '--pin', USER_PIN, '--test');
      const all = r.stdout + r.stderr;
      expect(r.code, all).toBe(0);
      // OpenSC 0.23 prints each failure as an "ERR" line and ends with "N errors" instead of "No errors".
      expect(r.stdout, all).toMatch(/^No errors$/m);
      expect(all).not.toMatch(/ERR|\d+ errors|some errors|failed/);
      // The run did reach the keys: digests, RSA verification and RSA decryption all ran.
      expect(r.stdout).toMatch(/all 4 digest functions seem to work/);
      expect(r.stdout).toMatch(/Verify[^\n]*\n\s+testing key 0 \(rsa\)\n\s+RSA-X-509: OK\n\s+RSA-PKCS: OK/);
      expect(r.stdout).toMatch(/Decryption[^\n]*\n\s+testing key 0 \(rsa\)\n\s+RSA-PKCS: OK\n\s+RSA-X-509: OK/);
      expect(r.stdout).toMatch(/testing key 1 \(ec\)/);
    } finally {
      box.cleanup();
    }
  });

  it('--test-threads: two threads initialise, read module, slot and token information', async () => {
    const box = sandbox(transport);
    try {
      await initialisedToken(box.env);
      // IL: C_Initialize with CKF_OS_LOCKING_OK, GI: C_GetInfo, SL: C_GetSlotList, T0: C_GetTokenInfo(slot 0).
      // (pkcs11-tool itself then waits about 30 s before it returns.)
      const r = await pkcs11Tool(box.env, '--test-threads', 'ILGISLT0', '--test-threads', 'ILGISLT0');
      const all = r.stdout + r.stderr;
      expect(r.code, all).toBe(0);
      expect(all).toMatch(/all threads have ended with CKR_OK/);
      expect(all).not.toMatch(/some errors/);
    } finally {
      box.cleanup();
    }
  });
});
