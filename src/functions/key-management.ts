/** Key generation (PKCS#11 3.0 section 5.18): secret keys so far. */
import { CKA, CKO, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import { templateFromWire, type AttributeMap, type AttributeValue } from '../objects/attribute-value';
import { buildObject } from '../objects/object-rules';
import { noParam } from '../mechanisms/params';

/** Checks that a template does not contradict what the mechanism makes. */
function implied(template: AttributeMap, type: number, value: number): void {
  const given = template.get(type);
  require(given === undefined || given === value, CKR.CKR_TEMPLATE_INCONSISTENT, `attribute 0x${type.toString(16)} contradicts the mechanism`);
  template.set(type, value);
}

export function keyManagementFunctions(module: CratonModule): Record<string, Handler> {
  return {
    C_GenerateKey(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const mechanism = call.mechanism('pMechanism');
      const template = templateFromWire(call.template('pTemplate').attributes);
      call.checkOutUlong('phKey');
      const spec = hsm.mechanisms.get(mechanism.type);
      const generation = spec.generateKey;
      if (!generation) throw new CkError(CKR.CKR_MECHANISM_INVALID, 'not a key generation mechanism');
      noParam(mechanism.param);
      implied(template, CKA.CKA_CLASS, CKO.CKO_SECRET_KEY);
      implied(template, CKA.CKA_KEY_TYPE, generation.keyType);
      const valueLen = template.get(CKA.CKA_VALUE_LEN);
      template.delete(CKA.CKA_VALUE_LEN);
      require(!template.has(CKA.CKA_VALUE), CKR.CKR_TEMPLATE_INCONSISTENT, 'a generated key cannot be given CKA_VALUE');
      const length = generation.valueLength(typeof valueLen === 'number' ? valueLen : undefined);
      const value = hsm.backend.randomBytes(length);
      const assigned: AttributeMap = new Map<number, AttributeValue>([
        [CKA.CKA_VALUE, value],
        [CKA.CKA_VALUE_LEN, length],
        [CKA.CKA_LOCAL, true],
        [CKA.CKA_KEY_GEN_MECHANISM, mechanism.type],
      ]);
      const key = buildObject(template, assigned, { isSecurityOfficer: session.token.loginState === 'so' });
      // A key born sensitive (or unextractable) has always been so (section 4.10).
      key.set(CKA.CKA_ALWAYS_SENSITIVE, key.get(CKA.CKA_SENSITIVE) === true);
      key.set(CKA.CKA_NEVER_EXTRACTABLE, key.get(CKA.CKA_EXTRACTABLE) === false);
      if (key.get(CKA.CKA_TOKEN) === true) require(session.readWrite, CKR.CKR_SESSION_READ_ONLY);
      if (key.get(CKA.CKA_PRIVATE) === true) require(session.userLoggedIn, CKR.CKR_USER_NOT_LOGGED_IN);
      call.setUlong('phKey', hsm.objects.add(session, key).handle);
    },
  };
}
