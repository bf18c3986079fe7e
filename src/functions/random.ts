/** Random number generation (PKCS#11 3.0 section 5.16). */
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';

const CHUNK = 1 << 20;

export function randomFunctions(module: CratonModule): Record<string, Handler> {
  return {
    C_SeedRandom(call) {
      module.ready().sessions.get(call.ulong('hSession'));
      call.inBytes('pSeed');
      // The generator reseeds itself from the operating system; caller seeds are not mixed in.
      throw new CkError(CKR.CKR_RANDOM_SEED_NOT_SUPPORTED);
    },

    C_GenerateRandom(call) {
      const hsm = module.ready();
      hsm.sessions.get(call.ulong('hSession'));
      const out = call.outFixed('pRandomData');
      const data = new Uint8Array(out.length);
      for (let at = 0; at < data.length; at += CHUNK) data.set(hsm.backend.randomBytes(Math.min(CHUNK, data.length - at)), at);
      out.write(data);
    },
  };
}
