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

/** `config` is craton_hsm.toml text added to the sandbox's; `env` adds variables; `modulePath` picks another copy of the module. */
export function openUserSession(label: string, config = '', env: NodeJS.ProcessEnv = {}, modulePath = MODULE_PATH): UserSession {
  const box = sandbox('process', env, config);
  const restoreEnv = applyProcessEnv(box.env);
  const mod = new pkcs11js.PKCS11();
  mod.load(modulePath);
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
      try {
        mod.C_Finalize();
      } finally {
        mod.close();
        restoreEnv();
        box.cleanup();
      }
    },
  };
}
