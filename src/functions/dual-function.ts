/**
 * Dual-function updates (PKCS#11 3.0 section 5.17; 5.13 in 2.40): one call
 * continues two active operations of the session, a cipher started by
 * C_EncryptInit (C_DecryptInit) and a digest, signature or verification.
 * The second operation gets the plaintext: the input when encrypting, the
 * cipher's output when decrypting (so it sees only what decryption has
 * released so far, the spec's pipelining caveat).
 *
 * Output follows section 5.2. A call that produces no cipher output (a length
 * query, too small a buffer, an error) passes nothing to the second operation.
 * A failure ends both operations: the part reached neither, and going on with
 * one of them would leave the two out of step.
 */
import type { Call } from '../dispatch/call';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import type { Session } from '../sessions/session';
import { activeDigest } from './digest';
import { activeEncryption, dataError, type Direction } from './encryption';
import { activeSignature } from './signing';

type Companion = 'digest' | 'sign' | 'verify';

/** The companion operation's update, as C_DigestUpdate (C_SignUpdate, C_VerifyUpdate) would run it. */
function companionUpdate(session: Session, kind: Companion): (part: Uint8Array) => void {
  if (kind === 'digest') {
    const digest = activeDigest(session);
    return (part) => digest.update(part);
  }
  const op = activeSignature(session, kind);
  return (part) => {
    op.update(part);
    op.multipart = true;
  };
}

function dual(module: CratonModule, direction: Direction, companion: Companion, input: string, output: string): Handler {
  return (call: Call) => {
    const session = module.ready().sessions.get(call.ulong('hSession'));
    const cipher = activeEncryption(session, direction);
    const feed = companionUpdate(session, companion);
    try {
      const part = call.inBytes(input);
      const out = call.outBytes(output);
      cipher.multipart = true;
      if (!out.accepts(cipher.updateSize(part.length))) return;
      const result = cipher.update(part);
      feed(direction === 'encrypt' ? part : result);
      out.write(result);
    } catch (e) {
      session.endOperation(direction);
      session.endOperation(companion);
      throw dataError(direction, e);
    }
  };
}

export function dualFunctions(module: CratonModule): Record<string, Handler> {
  return {
    C_DigestEncryptUpdate: dual(module, 'encrypt', 'digest', 'pPart', 'pEncryptedPart'),
    C_DecryptDigestUpdate: dual(module, 'decrypt', 'digest', 'pEncryptedPart', 'pPart'),
    C_SignEncryptUpdate: dual(module, 'encrypt', 'sign', 'pPart', 'pEncryptedPart'),
    C_DecryptVerifyUpdate: dual(module, 'decrypt', 'verify', 'pEncryptedPart', 'pPart'),
  };
}
