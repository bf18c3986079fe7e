/** Every open session of this application, by handle. Handles are never reused. */
import { CKR } from '../generated/constants';
import { CkError } from '../ck-error';
import type { Token } from '../tokens/token';
import { Session } from './session';

export class SessionTable {
  private readonly sessions = new Map<number, Session>();
  private nextHandle = 1;

  open(token: Token, readWrite: boolean): Session {
    const s = new Session(this.nextHandle++, token, readWrite);
    this.sessions.set(s.handle, s);
    return s;
  }

  get(handle: number): Session {
    const s = this.sessions.get(handle);
    if (!s) throw new CkError(CKR.CKR_SESSION_HANDLE_INVALID);
    return s;
  }

  /** The session of a handle, if it is open (for callers that must not throw). */
  find(handle: number): Session | undefined {
    return this.sessions.get(handle);
  }

  onToken(slotId: number): Session[] {
    return [...this.sessions.values()].filter((s) => s.slotId === slotId);
  }

  close(session: Session): void {
    session.endAllOperations();
    this.sessions.delete(session.handle);
  }

  closeAll(): void {
    for (const s of this.sessions.values()) s.endAllOperations();
    this.sessions.clear();
  }
}
