/**
 * The pairwise consistency test of C_GenerateKeyPair, through pkcs11js: a
 * failing test (the test-only fault switch) returns CKR_GENERAL_ERROR, keeps
 * no key, and leaves the module in its error state.
 */
import * as pkcs11js from 'pkcs11js';
import { describe, expect, it } from 'vitest';
import { CKA, CKM, CKO, CKR } from '../../src/generated/constants';
import { ckrOf } from '../helpers/pkcs11js-errors';
import { openUserSession } from '../helpers/pkcs11js-session';

const P256 = Buffer.from('06082a8648ce3d030107', 'hex');

function ecPair(mod: pkcs11js.PKCS11, session: Buffer): pkcs11js.KeyPair {
  return mod.C_GenerateKeyPair(
    session,
    { mechanism: CKM.CKM_EC_KEY_PAIR_GEN },
    [{ type: CKA.CKA_EC_PARAMS, value: P256 }, { type: CKA.CKA_TOKEN, value: true }],
    [{ type: CKA.CKA_TOKEN, value: true }, { type: CKA.CKA_SIGN, value: true }],
  );
}

describe('pairwise consistency test', () => {
  it('passes for healthy key pairs of each signature type', () => {
    const u = openUserSession('pct-ok');
    try {
      expect(ecPair(u.mod, u.session).privateKey).toBeDefined();
    } finally {
      u.close();
    }
  });

  it('a failure keeps no key and puts the module in the error state', () => {
    const u = openUserSession('pct-fault', '', { CRATON_HSM_TEST_FAULT: 'pct:ec' });
    try {
      expect(ckrOf(() => ecPair(u.mod, u.session))).toBe(CKR.CKR_GENERAL_ERROR);
      expect(ckrOf(() => u.mod.C_FindObjectsInit(u.session, [{ type: CKA.CKA_CLASS, value: CKO.CKO_PRIVATE_KEY }]))).toBe(CKR.CKR_GENERAL_ERROR);
      expect(ckrOf(() => u.mod.C_GetSlotList(true))).toBe(CKR.CKR_GENERAL_ERROR);
    } finally {
      expect(ckrOf(() => u.close())).toBe(CKR.CKR_GENERAL_ERROR);
    }
  });
});
