/** Message digesting (PKCS#11 3.0 section 5.12). */
import { CKA, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { DigestContext } from '../backends/backend';
import { DIGEST_LENGTHS } from '../backends/backend';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { Operation } from '../sessions/operation';
import type { Session } from '../sessions/session';
import { ValueKind } from '../wire/codec';
import { recordOperation } from './operation-key';

class DigestOperation implements Operation {
  /** C_Digest may not finish an operation that C_DigestUpdate has started. */
  multipart = false;

  constructor(
    readonly context: DigestContext,
    readonly length: number,
  ) {}

  /** Digests another part (C_DigestUpdate, C_DigestKey and the dual-function calls). */
  update(part: Uint8Array): void {
    this.context.update(part);
    this.multipart = true;
  }

  dispose(): void {
    this.context.dispose();
  }
}

export function activeDigest(session: Session): DigestOperation {
  const op = session.operations.get('digest');
  require(op instanceof DigestOperation, CKR.CKR_OPERATION_NOT_INITIALIZED);
  return op;
}

/** Runs a step of the operation; any failure other than a length query ends it. */
function step<T>(session: Session, work: () => T): T {
  try {
    return work();
  } catch (e) {
    session.endOperation('digest');
    throw e;
  }
}

function finish(session: Session, op: DigestOperation): Uint8Array {
  const digest = op.context.final();
  op.dispose();
  session.operations.delete('digest');
  return digest;
}

export function digestFunctions(module: CratonModule): Record<string, Handler> {
  return {
    C_DigestInit(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.optionalMechanism('pMechanism');
      // A NULL mechanism ends the active operation (PKCS#11 3.0, C_EncryptInit and the other *Init functions).
      if (!mechanism) return session.endOperation('digest');
      require(!session.operations.has('digest'), CKR.CKR_OPERATION_ACTIVE);
      const spec = hsm.mechanisms.get(mechanism.type);
      if (!spec.digest) throw new CkError(CKR.CKR_MECHANISM_INVALID);
      require(mechanism.param.kind === ValueKind.Null || mechanism.param.length === 0, CKR.CKR_MECHANISM_PARAM_INVALID);
      recordOperation(session, spec, spec.fipsApproved);
      session.start('digest', new DigestOperation(hsm.backend.createDigest(spec.digest), DIGEST_LENGTHS[spec.digest]));
    },

    C_Digest(call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = activeDigest(session);
      step(session, () => {
        const data = call.inBytes('pData');
        const out = call.outBytes('pDigest');
        require(!op.multipart, CKR.CKR_OPERATION_ACTIVE);
        if (!out.accepts(op.length)) return;
        op.context.update(data);
        out.write(finish(session, op));
      });
    },

    C_DigestUpdate(call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = activeDigest(session);
      step(session, () => op.update(call.inBytes('pPart')));
    },

    C_DigestKey(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = activeDigest(session);
      step(session, () => {
        const key = hsm.objects.get(session, call.ulong('hKey'));
        // Only secret keys have a value that can be digested (section 5.12, C_DigestKey).
        require(key.attributes.get(CKA.CKA_CLASS) === CKO.CKO_SECRET_KEY, CKR.CKR_KEY_INDIGESTIBLE);
        const value = key.attributes.get(CKA.CKA_VALUE);
        require(value instanceof Uint8Array, CKR.CKR_KEY_INDIGESTIBLE);
        op.update(value);
      });
    },

    C_DigestFinal(call) {
      const session = module.ready().sessions.get(call.ulong('hSession'));
      const op = activeDigest(session);
      step(session, () => {
        const out = call.outBytes('pDigest');
        if (!out.accepts(op.length)) return;
        out.write(finish(session, op));
      });
    },
  };
}
