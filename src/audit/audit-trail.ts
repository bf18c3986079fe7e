/**
 * Which PKCS#11 calls become audit records, and with what: token set-up,
 * logins and PIN changes, key generation, wrapping and derivation, object
 * creation and destruction, and each completed sign, verify, encrypt or
 * decrypt (with the mechanism and indicator its C_*Init recorded). A C_*Init
 * that is refused is recorded too. Digests and queries are not.
 */
import { CKR } from '../generated/constants';
import { rvName } from '../ck-error';
import type { Call } from '../dispatch/call';
import type { Hsm } from '../module/hsm';
import type { OperationIndicator, OperationKind } from '../sessions/operation';
import type { AuditEvent } from './audit-log';

/**
 * Calls that complete an operation: the record is written when the operation
 * ends, except for the message functions, where every call is one message.
 */
const COMPLETIONS: Readonly<Record<string, readonly [string, OperationKind, 'when-ended' | 'each-call']>> = {
  C_Sign: ['Sign', 'sign', 'when-ended'],
  C_SignFinal: ['Sign', 'sign', 'when-ended'],
  C_SignRecover: ['SignRecover', 'sign', 'when-ended'],
  C_Verify: ['Verify', 'verify', 'when-ended'],
  C_VerifyFinal: ['Verify', 'verify', 'when-ended'],
  C_VerifyRecover: ['VerifyRecover', 'verify', 'when-ended'],
  C_Encrypt: ['Encrypt', 'encrypt', 'when-ended'],
  C_EncryptFinal: ['Encrypt', 'encrypt', 'when-ended'],
  C_Decrypt: ['Decrypt', 'decrypt', 'when-ended'],
  C_DecryptFinal: ['Decrypt', 'decrypt', 'when-ended'],
  C_EncryptMessage: ['EncryptMessage', 'encrypt', 'each-call'],
  C_EncryptMessageNext: ['EncryptMessage', 'encrypt', 'each-call'],
  C_DecryptMessage: ['DecryptMessage', 'decrypt', 'each-call'],
  C_DecryptMessageNext: ['DecryptMessage', 'decrypt', 'each-call'],
};

/** Starting calls: recorded only when refused. */
const STARTS = new Set(['C_SignInit', 'C_VerifyInit', 'C_SignRecoverInit', 'C_VerifyRecoverInit', 'C_EncryptInit', 'C_DecryptInit', 'C_MessageEncryptInit', 'C_MessageDecryptInit']);

/** Single calls with a mechanism, whose indicator the handler records. */
const KEY_CALLS = new Set(['C_GenerateKey', 'C_GenerateKeyPair', 'C_DeriveKey', 'C_WrapKey', 'C_UnwrapKey']);

/** Token and object events, without a mechanism. */
const PLAIN_CALLS = new Set(['C_InitToken', 'C_InitPIN', 'C_SetPIN', 'C_Login', 'C_Logout', 'C_CreateObject', 'C_CopyObject', 'C_DestroyObject']);

const USER_TYPES: Readonly<Record<number, string>> = { 0: 'SO', 1: 'User', 2: 'ContextSpecific' };

function argUlong(call: Call, name: string): number | null {
  return call.fn.args.some((a) => a.name === name) ? call.ulong(name) : null;
}

const resultOf = (rv: number): string => (rv === CKR.CKR_OK ? 'Success' : rvName(rv));

/**
 * Prepares the record of one call before its handler runs (what it needs
 * may be gone afterwards); the returned function writes it given the CK_RV,
 * or there is none to write.
 */
export function auditCall(hsm: Hsm, call: Call, write: (event: AuditEvent) => void): ((rv: number) => void) | null {
  const name = call.fn.name;
  const hSession = argUlong(call, 'hSession');
  const session = hSession === null ? undefined : hsm.sessions.find(hSession);
  const slot = session?.slotId ?? argUlong(call, 'slotID');
  const base = { slot, session: session ? hSession : null };
  const completion = COMPLETIONS[name];
  if (completion) {
    const [operation, kind, when] = completion;
    const indicator: OperationIndicator | undefined = session?.operations.get(kind)?.indicator;
    return (rv) => {
      if (rv === CKR.CKR_OK && when === 'when-ended' && session?.operations.has(kind)) return;
      write({ ...base, operation, mechanism: indicator?.mechanism ?? null, fipsApproved: indicator?.fipsApproved ?? null, result: resultOf(rv) });
    };
  }
  if (STARTS.has(name)) {
    const mechanism = call.optionalMechanism('pMechanism');
    return (rv) => {
      if (rv !== CKR.CKR_OK) write({ ...base, operation: name.slice(2), mechanism: mechanism?.type ?? null, fipsApproved: null, result: resultOf(rv) });
    };
  }
  if (KEY_CALLS.has(name)) {
    const mechanism = call.optionalMechanism('pMechanism');
    return (rv) => {
      const last = session?.lastOperation;
      const approved = rv === CKR.CKR_OK && last && last.mechanism === mechanism?.type ? last.fipsApproved : null;
      write({ ...base, operation: name.slice(2), mechanism: mechanism?.type ?? null, fipsApproved: approved, result: resultOf(rv) });
    };
  }
  if (PLAIN_CALLS.has(name)) {
    const userType = name === 'C_Login' ? USER_TYPES[call.ulong('userType')] ?? String(call.ulong('userType')) : undefined;
    return (rv) => write({ ...base, operation: name.slice(2), mechanism: null, fipsApproved: null, result: resultOf(rv), detail: userType ? { user_type: userType } : undefined });
  }
  return null;
}
