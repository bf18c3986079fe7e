/**
 * Object handles for this application: token objects (kept by each token's
 * store) and session objects (kept here, gone with their session). Handles
 * are stable for the life of the runtime and never reused.
 */
import { randomUUID } from 'node:crypto';
import { CKA, CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { Session } from '../sessions/session';
import type { AttributeMap } from './attribute-value';

export interface P11Object {
  readonly handle: number;
  readonly id: string;
  readonly slotId: number;
  readonly attributes: AttributeMap;
  /** The session that owns a session object; null for token objects. */
  readonly ownerSession: number | null;
}

export class ObjectTable {
  private readonly handles = new Map<string, number>();
  private readonly sessionObjects = new Map<number, P11Object>();
  private nextHandle = 1;

  private handleFor(slotId: number, id: string): number {
    const key = `${slotId}/${id}`;
    let h = this.handles.get(key);
    if (h === undefined) {
      h = this.nextHandle++;
      this.handles.set(key, h);
    }
    return h;
  }

  /** Every object the session may see: private ones only while the user is logged in. */
  visible(session: Session): P11Object[] {
    const all: P11Object[] = session.token.store
      .listObjects()
      .map((o) => ({ handle: this.handleFor(session.slotId, o.id), id: o.id, slotId: session.slotId, attributes: o.attributes, ownerSession: null }));
    for (const o of this.sessionObjects.values()) if (o.slotId === session.slotId) all.push(o);
    return all.filter((o) => session.userLoggedIn || o.attributes.get(CKA.CKA_PRIVATE) !== true);
  }

  get(session: Session, handle: number): P11Object {
    const o = this.visible(session).find((x) => x.handle === handle);
    if (!o) throw new CkError(CKR.CKR_OBJECT_HANDLE_INVALID);
    return o;
  }

  /** Stores a new object; token objects are durable when this returns. */
  add(session: Session, attributes: AttributeMap): P11Object {
    const id = randomUUID();
    attributes.set(CKA.CKA_UNIQUE_ID, new TextEncoder().encode(id));
    if (attributes.get(CKA.CKA_TOKEN) === true) {
      session.token.store.putObject({ id, attributes });
      return { handle: this.handleFor(session.slotId, id), id, slotId: session.slotId, attributes, ownerSession: null };
    }
    const o: P11Object = { handle: this.handleFor(session.slotId, id), id, slotId: session.slotId, attributes, ownerSession: session.handle };
    this.sessionObjects.set(o.handle, o);
    return o;
  }

  replace(session: Session, object: P11Object, attributes: AttributeMap): void {
    if (object.ownerSession === null) session.token.store.putObject({ id: object.id, attributes });
    else this.sessionObjects.set(object.handle, { ...object, attributes });
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
