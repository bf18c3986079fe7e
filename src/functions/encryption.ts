/** Encryption and decryption (PKCS#11 3.0 sections 5.8-5.9). */
import { CKA, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import { BackendError } from '../backends/backend';
import type { CipherContext } from '../backends/symmetric';
import type { Call } from '../dispatch/call';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { Operation } from '../sessions/operation';
import type { Session } from '../sessions/session';
import { operationKey, secretValue } from './operation-key';

type Direction = 'encrypt' | 'decrypt';

class CipherOperation implements Operation {
  /** C_Encrypt may not finish an operation that C_EncryptUpdate has started. */
  multipart = false;

  constructor(readonly context: CipherContext) {}

  dispose(): void {
    this.context.dispose();
  }
}

/** Backend refusals mean the data, not the module, is at fault. */
function dataError(direction: Direction, e: unknown): unknown {
  if (!(e instanceof BackendError)) return e;
  if (e.code === 'AUTH') return new CkError(CKR.CKR_ENCRYPTED_DATA_INVALID, e.message);
  if (e.code === 'ARGUMENT') return new CkError(direction === 'encrypt' ? CKR.CKR_DATA_LEN_RANGE : CKR.CKR_ENCRYPTED_DATA_LEN_RANGE, e.message);
  return e;
}

function active(session: Session, direction: Direction): CipherOperation {
  const op = session.operations.get(direction);
  require(op instanceof CipherOperation, CKR.CKR_OPERATION_NOT_INITIALIZED);
  return op;
}

/** Runs a step; any failure other than a length query ends the operation (section 5.2). */
function step(session: Session, direction: Direction, work: () => void): void {
  try {
    work();
  } catch (e) {
    end(session, direction);
    throw dataError(direction, e);
  }
}

function end(session: Session, direction: Direction): void {
  session.operations.get(direction)?.dispose();
  session.operations.delete(direction);
}

function handlers(module: CratonModule, direction: Direction, names: { init: string; single: string; update: string; final: string; input: string; output: string; partIn: string; partOut: string; last: string }): Record<string, Handler> {
  const usage = direction === 'encrypt' ? CKA.CKA_ENCRYPT : CKA.CKA_DECRYPT;
  return {
    [names.init](call: Call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.mechanism('pMechanism');
      require(!session.operations.has(direction), CKR.CKR_OPERATION_ACTIVE);
      const spec = hsm.mechanisms.get(mechanism.type);
      if (!spec.cipher) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a cipher');
      const key = operationKey(hsm, session, call.ulong('hKey'), spec, usage);
      const cipherSpec = spec.cipher(secretValue(key), mechanism.param);
      let context: CipherContext;
      try {
        context = hsm.backend.createCipher(cipherSpec, direction === 'encrypt');
      } catch (e) {
        throw e instanceof BackendError && e.code === 'ARGUMENT' ? new CkError(CKR.CKR_MECHANISM_PARAM_INVALID, e.message) : e;
      }
      session.operations.set(direction, new CipherOperation(context));
    },

    [names.single](call: Call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = active(session, direction);
      step(session, direction, () => {
        const input = call.inBytes(names.input);
        const out = call.outBytes(names.output);
        require(!op.multipart, CKR.CKR_OPERATION_ACTIVE);
        if (!out.accepts(op.context.finalSize(input.length))) return;
        const first = op.context.update(input);
        const last = op.context.final();
        end(session, direction);
        out.write(first.length === 0 ? last : Buffer.concat([first, last]));
      });
    },

    [names.update](call: Call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = active(session, direction);
      step(session, direction, () => {
        const input = call.inBytes(names.partIn);
        const out = call.outBytes(names.partOut);
        op.multipart = true;
        if (!out.accepts(op.context.updateSize(input.length))) return;
        out.write(op.context.update(input));
      });
    },

    [names.final](call: Call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = active(session, direction);
      step(session, direction, () => {
        const out = call.outBytes(names.last);
        if (!out.accepts(op.context.finalSize())) return;
        const last = op.context.final();
        end(session, direction);
        out.write(last);
      });
    },
  };
}

export function encryptionFunctions(module: CratonModule): Record<string, Handler> {
  return {
    ...handlers(module, 'encrypt', {
      init: 'C_EncryptInit',
      single: 'C_Encrypt',
      update: 'C_EncryptUpdate',
      final: 'C_EncryptFinal',
      input: 'pData',
      output: 'pEncryptedData',
      partIn: 'pPart',
      partOut: 'pEncryptedPart',
      last: 'pLastEncryptedPart',
    }),
    ...handlers(module, 'decrypt', {
      init: 'C_DecryptInit',
      single: 'C_Decrypt',
      update: 'C_DecryptUpdate',
      final: 'C_DecryptFinal',
      input: 'pEncryptedData',
      output: 'pData',
      partIn: 'pEncryptedPart',
      partOut: 'pPart',
      last: 'pLastPart',
    }),
  };
}
