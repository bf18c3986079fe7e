/** General-purpose, slot and token functions (PKCS#11 3.0 sections 5.4-5.5). */
import { CKF_SLOT, CKF_WAIT, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { Handler } from '../dispatch/dispatcher';
import { Interface } from '../wire/frame';
import type { CratonModule } from '../module/module';
import { LIBRARY_VERSION, MANUFACTURER } from '../module/identity';

const CK_EFFECTIVELY_INFINITE = 0;
const UNAVAILABLE = -1;

function utcTime(now = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(now.getUTCFullYear(), 4)}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}00`;
}

export function generalFunctions(module: CratonModule): Record<string, Handler> {
  return {
    async C_Initialize(call) {
      const args = call.initArgs('pInitArgs');
      if (args) {
        require(!args.reserved, CKR.CKR_ARGUMENTS_BAD, 'pReserved must be NULL');
        const given = [args.createMutex, args.destroyMutex, args.lockMutex, args.unlockMutex].filter(Boolean).length;
        require(given === 0 || given === 4, CKR.CKR_ARGUMENTS_BAD, 'mutex callbacks must be all or none');
        // The module never needs the caller's mutexes: it is always thread-safe. The shim has
        // already honoured CKF_LIBRARY_CANT_CREATE_OS_THREADS by picking a transport that
        // creates no thread in the caller's process.
      }
      await module.initialize();
    },

    C_Finalize(call) {
      require(!call.present('pReserved'), CKR.CKR_ARGUMENTS_BAD, 'pReserved must be NULL');
      module.finalize();
    },

    C_GetInfo(call) {
      const hsm = module.ready();
      call.checkOutStruct('pInfo');
      const lib = hsm.backend.library;
      call.setStruct('pInfo', {
        cryptokiVersion: call.iface === Interface.V3_0 ? { major: 3, minor: 0 } : { major: 2, minor: 40 },
        manufacturerID: MANUFACTURER,
        flags: 0,
        libraryDescription: `Craton HSM (${lib.name} ${lib.version.split(' ')[1] ?? ''})`.trim(),
        libraryVersion: LIBRARY_VERSION,
      });
    },

    C_GetSlotList(call) {
      const hsm = module.ready();
      // Every slot always holds its software token, so tokenPresent changes nothing.
      call.setUlongList('pSlotList', hsm.slots.ids);
    },

    C_GetSlotInfo(call) {
      const hsm = module.ready();
      const token = hsm.slots.token(call.ulong('slotID'));
      call.setStruct('pInfo', {
        slotDescription: `Craton HSM software slot ${token.slotId}`,
        manufacturerID: MANUFACTURER,
        flags: CKF_SLOT.CKF_TOKEN_PRESENT,
        hardwareVersion: LIBRARY_VERSION,
        firmwareVersion: LIBRARY_VERSION,
      });
    },

    C_GetTokenInfo(call) {
      const hsm = module.ready();
      const token = hsm.slots.token(call.ulong('slotID'));
      call.checkOutStruct('pInfo');
      const sessions = hsm.sessions.onToken(token.slotId);
      const record = token.record;
      call.setStruct('pInfo', {
        label: record.label,
        manufacturerID: MANUFACTURER,
        model: 'Software HSM',
        serialNumber: record.serial,
        flags: token.flags(),
        ulMaxSessionCount: CK_EFFECTIVELY_INFINITE,
        ulSessionCount: sessions.length,
        ulMaxRwSessionCount: CK_EFFECTIVELY_INFINITE,
        ulRwSessionCount: sessions.filter((s) => s.readWrite).length,
        ulMaxPinLen: token.policy.maxLength,
        ulMinPinLen: token.policy.minLength,
        ulTotalPublicMemory: UNAVAILABLE,
        ulFreePublicMemory: UNAVAILABLE,
        ulTotalPrivateMemory: UNAVAILABLE,
        ulFreePrivateMemory: UNAVAILABLE,
        hardwareVersion: LIBRARY_VERSION,
        firmwareVersion: LIBRARY_VERSION,
        utcTime: utcTime(),
      });
    },

    C_GetMechanismList(call) {
      const hsm = module.ready();
      hsm.slots.token(call.ulong('slotID'));
      call.setUlongList('pMechanismList', hsm.mechanisms.types());
    },

    C_GetMechanismInfo(call) {
      const hsm = module.ready();
      hsm.slots.token(call.ulong('slotID'));
      const m = hsm.mechanisms.get(call.ulong('type'));
      const sizes = hsm.mechanisms.policy.keySizes(m);
      call.setStruct('pInfo', { ulMinKeySize: sizes.min, ulMaxKeySize: sizes.max, flags: m.flags });
    },

    async C_WaitForSlotEvent(call) {
      module.ready();
      require(!call.present('pReserved'), CKR.CKR_ARGUMENTS_BAD, 'pReserved must be NULL');
      call.checkOutUlong('pSlot');
      // Software tokens are never inserted or removed: the only event is C_Finalize.
      if (call.ulong('flags') & CKF_WAIT.CKF_DONT_BLOCK) throw new CkError(CKR.CKR_NO_EVENT);
      await module.waitForSlotEvent();
      throw new CkError(CKR.CKR_CRYPTOKI_NOT_INITIALIZED);
    },

    C_GetFunctionStatus(call) {
      module.ready().sessions.get(call.ulong('hSession'));
      throw new CkError(CKR.CKR_FUNCTION_NOT_PARALLEL);
    },

    C_CancelFunction(call) {
      module.ready().sessions.get(call.ulong('hSession'));
      throw new CkError(CKR.CKR_FUNCTION_NOT_PARALLEL);
    },
  };
}
