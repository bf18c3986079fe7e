/**
 * Object handles for this application: token objects (kept by each token's
 * store) and session objects (kept here, gone with their session). Handles
 * are stable for the life of the runtime and never reused.
 */
import { randomUUID } from 'node:crypto';
import { CKA, CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { Session } from '../sessions/session';
import { matches } from '../store/object-index';
import type { AttributeMap } from './attribute-value';

export interface P11Object {
  readonly handle: number;
  readonly id: string;
  readonly slotId: number;
  readonly attributes: AttributeMap;
  /** The session that owns a session object; null for token objects. */
  readonly ownerSession: number | null;
}

interface HandleTarget {
  readonly slotId: number;
  readonly id: string;
}

export class ObjectTable {
  private readonly handleByKey = new Map<string, number>();
  private readonly targets = new Map<number, HandleTarget>();
  private readonly sessionObjects = new Map<number, P11Object>();
  private nextHandle = 1;

  private handleFor(slotId: number, id: string): number {
    const key = `${slotId}/${id}`;
    let h = this.handleByKey.get(key);
    if (h === undefined) {
      h = this.nextHandle++;
      this.handleByKey.set(key, h);
      this.targets.set(h, { slotId, id });
    }
    return h;
  }

  private visibleTo(session: Session, attributes: AttributeMap): boolean {
    return session.userLoggedIn || attributes.get(CKA.CKA_PRIVATE) !== true;
  }

  get(session: Session, handle: number): P11Object {
    const own = this.sessionObjects.get(handle);
    if (own && own.slotId === session.slotId && this.visibleTo(session, own.attributes)) return own;
    const target = this.targets.get(handle);
    const attributes = target && target.slotId === session.slotId ? session.token.store.objects().get(target.id) : undefined;
    if (!target || !attributes || !this.visibleTo(session, attributes)) throw new CkError(CKR.CKR_OBJECT_HANDLE_INVALID);
    return { handle, id: target.id, slotId: target.slotId, attributes, ownerSession: null };
  }

  /** Handles of the objects the session may see that match the template. */
  find(session: Session, template: AttributeMap): number[] {
    const found: number[] = [];
    const index = session.token.store.objects();
    for (const id of index.find(template)) {
      const attributes = index.get(id);
      if (attributes && this.visibleTo(session, attributes)) found.push(this.handleFor(session.slotId, id));
    }
    for (const o of this.sessionObjects.values()) {
      if (o.slotId === session.slotId && this.visibleTo(session, o.attributes) && matches(o.attributes, template)) found.push(o.handle);
    }
    return found;
  }

  /** Stores a new object; token objects are durable when this returns. */
  add(session: Session, attributes: AttributeMap): P11Object {
    const id = randomUUID();
    attributes.set(CKA.CKA_UNIQUE_ID, new TextEncoder().encode(id));
    const handle = this.handleFor(session.slotId, id);
    if (attributes.get(CKA.CKA_TOKEN) === true) {
      session.token.store.addObject(id, attributes);
      return { handle, id, slotId: session.slotId, attributes, ownerSession: null };
    }
    const o: P11Object = { handle, id, slotId: session.slotId, attributes, ownerSession: session.handle };
    this.sessionObjects.set(handle, o);
    return o;
  }

  /** Changes an object; a token object is changed as it is now in the store, not as this process last saw it. */
  update(session: Session, object: P11Object, change: (current: AttributeMap) => AttributeMap): void {
    if (object.ownerSession === null) session.token.store.updateObject(object.id, change);
    else this.sessionObjects.set(object.handle, { ...object, attributes: change(object.attributes) });
  }

  remove(session: Session, object: P11Object): void {
    if (object.ownerSession === null) session.token.store.deleteObject(object.id);
    else this.sessionObjects.delete(object.handle);
  }

  /** Session objects die with the session that created them. */
  dropOwnedBy(sessionHandle: number): void {
    for (const [h, o] of this.sessionObjects) if (o.ownerSession === sessionHandle) this.sessionObjects.delete(h);
  }
}
