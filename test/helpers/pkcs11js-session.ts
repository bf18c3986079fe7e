/**
 * The set-up most pkcs11js tests share: the module loaded into the test
 * worker (process transport), a fresh token with a user PIN, and a R/W
 * session logged in as the user.
 */
import * as pkcs11js from 'pkcs11js';
import { MODULE_PATH, SO_PIN, USER_PIN, sandbox } from './module';
import { applyProcessEnv, paddedLabel } from './process-env';

export interface UserSession {
  readonly mod: pkcs11js.PKCS11;
  readonly session: Buffer;
  /** Finalizes the module and removes the token store. */
  close(): void;
}

export function openUserSession(label: string): UserSession {
  const box = sandbox('process');
  const restoreEnv = applyProcessEnv(box.env);
  const mod = new pkcs11js.PKCS11();
  mod.load(MODULE_PATH);
  mod.C_Initialize();
  const slot = mod.C_GetSlotList(true)[0] as Buffer;
  mod.C_InitToken(slot, SO_PIN, paddedLabel(label));
  const session = mod.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  mod.C_Login(session, pkcs11js.CKU_SO, SO_PIN);
  mod.C_InitPIN(session, USER_PIN);
  mod.C_Logout(session);
  mod.C_Login(session, pkcs11js.CKU_USER, USER_PIN);
  return {
    mod,
    session,
    close() {
      mod.C_Finalize();
      mod.close();
      restoreEnv();
      box.cleanup();
    },
  };
}
