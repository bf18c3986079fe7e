/** Object management (PKCS#11 3.0 section 5.7). */
import { CKA, CKR } from '../generated/constants';
import { CkError, require } from '../ck-error';
import type { Handler } from '../dispatch/dispatcher';
import type { CratonModule } from '../module/module';
import { templateFromWire, type AttributeMap } from '../objects/attribute-value';
import { completeSecretKey } from '../objects/check-value';
import { completeAsymmetricKey } from '../objects/key-import';
import { buildObject, modifyObject, objectSize, readAttributes, type Actor } from '../objects/object-rules';
import type { Operation } from '../sessions/operation';
import type { Session } from '../sessions/session';

class FindOperation implements Operation {
  constructor(private remaining: number[]) {}

  next(max: number): number[] {
    const batch = this.remaining.slice(0, max);
    this.remaining = this.remaining.slice(batch.length);
    return batch;
  }

  dispose(): void {
    this.remaining = [];
  }
}

/** Who is acting in this session, as the object rules need it. */
export function actor(session: Session): Actor {
  return { isSecurityOfficer: session.token.loginState === 'so' };
}

/**
 * Whether this session may hold or change an object with these attributes:
 * token objects need a R/W session, private objects a logged-in user.
 */
function checkAccess(session: Session, attrs: AttributeMap): void {
  if (attrs.get(CKA.CKA_TOKEN) === true) require(session.readWrite, CKR.CKR_SESSION_READ_ONLY);
  if (attrs.get(CKA.CKA_PRIVATE) === true) require(session.userLoggedIn, CKR.CKR_USER_NOT_LOGGED_IN);
}

export function objectFunctions(module: CratonModule): Record<string, Handler> {
  return {
    async C_CreateObject(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const template = templateFromWire(call.template('pTemplate').attributes);
      call.checkOutUlong('phObject');
      const attrs = buildObject(template, new Map(), actor(session));
      checkAccess(session, attrs);
      completeSecretKey(hsm.backend, attrs);
      const native = await completeAsymmetricKey(hsm.backend, attrs);
      // A key entered in approved-only mode, of an approved type and size, counts as approved.
      if (attrs.has(CKA.CKA_VENDOR_FIPS_APPROVED)) attrs.set(CKA.CKA_VENDOR_FIPS_APPROVED, hsm.mechanisms.policy.approvedOnly && hsm.mechanisms.policy.keyApproved(attrs));
      // The login may have ended while the backend checked the key.
      checkAccess(session, attrs);
      const object = hsm.objects.add(session, attrs);
      if (native) hsm.keys.put(object, native);
      call.setUlong('phObject', object.handle);
    },

    C_CopyObject(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const source = hsm.objects.get(session, call.ulong('hObject'));
      const changes = templateFromWire(call.template('pTemplate').attributes);
      call.checkOutUlong('phNewObject');
      require(source.attributes.get(CKA.CKA_COPYABLE) !== false, CKR.CKR_ACTION_PROHIBITED, 'object is not copyable');
      const attrs = modifyObject(source.attributes, changes, actor(session), true);
      attrs.delete(CKA.CKA_UNIQUE_ID);
      checkAccess(session, attrs);
      call.setUlong('phNewObject', hsm.objects.add(session, attrs).handle);
    },

    C_DestroyObject(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const object = hsm.objects.get(session, call.ulong('hObject'));
      checkAccess(session, object.attributes);
      require(object.attributes.get(CKA.CKA_DESTROYABLE) !== false, CKR.CKR_ACTION_PROHIBITED, 'object is not destroyable');
      hsm.objects.remove(session, object);
    },

    C_GetObjectSize(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const object = hsm.objects.get(session, call.ulong('hObject'));
      call.setUlong('pulSize', objectSize(object.attributes));
    },

    C_GetAttributeValue(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const object = hsm.objects.get(session, call.ulong('hObject'));
      const template = call.getTemplate('pTemplate');
      const result = readAttributes(object.attributes, template.slots, call.abi);
      call.setSlots('pTemplate', result.slots);
      call.rv = result.rv;
    },

    C_SetAttributeValue(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const object = hsm.objects.get(session, call.ulong('hObject'));
      const changes = templateFromWire(call.template('pTemplate').attributes);
      checkAccess(session, object.attributes);
      hsm.objects.update(session, object, (current) => modifyObject(current, changes, actor(session), false));
    },

    C_FindObjectsInit(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const wire = call.template('pTemplate').attributes;
      require(!session.operations.has('find'), CKR.CKR_OPERATION_ACTIVE);
      let template: AttributeMap | null;
      try {
        template = templateFromWire(wire);
      } catch (e) {
        // An attribute type the module does not know matches no object.
        if (!(e instanceof CkError) || e.rv !== CKR.CKR_ATTRIBUTE_TYPE_INVALID) throw e;
        template = null;
      }
      session.operations.set('find', new FindOperation(template ? hsm.objects.find(session, template) : []));
    },

    C_FindObjects(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const out = call.handleArray('phObject');
      const op = session.operations.get('find');
      require(op instanceof FindOperation, CKR.CKR_OPERATION_NOT_INITIALIZED);
      out.write(op.next(out.max));
    },

    C_FindObjectsFinal(call) {
      const hsm = module.ready();
      const session = hsm.sessions.get(call.ulong('hSession'));
      const op = session.operations.get('find');
      require(op, CKR.CKR_OPERATION_NOT_INITIALIZED);
      op.dispose();
      session.operations.delete('find');
    },
  };
}
