/**
 * The token objects of one store in memory, with indexes on the attributes
 * consumers search by, so a search touches only the objects that can match.
 */
import { CKA } from '../generated/constants';
import { valuesEqual, type AttributeMap, type AttributeValue } from '../objects/attribute-value';

const INDEXED = [CKA.CKA_CLASS, CKA.CKA_LABEL, CKA.CKA_ID, CKA.CKA_KEY_TYPE] as const;

function indexKey(value: AttributeValue): string | undefined {
  if (typeof value === 'number') return `n${value}`;
  if (value instanceof Uint8Array) return `b${Buffer.from(value).toString('hex')}`;
  return undefined;
}

export class ObjectIndex {
  private readonly byId = new Map<string, AttributeMap>();
  private readonly indexes = new Map<number, Map<string, Set<string>>>(INDEXED.map((t) => [t, new Map()]));

  get size(): number {
    return this.byId.size;
  }

  get(id: string): AttributeMap | undefined {
    return this.byId.get(id);
  }

  ids(): IterableIterator<string> {
    return this.byId.keys();
  }

  set(id: string, attributes: AttributeMap): void {
    this.delete(id);
    this.byId.set(id, attributes);
    for (const [type, index] of this.indexes) {
      const v = attributes.get(type);
      const key = v === undefined ? undefined : indexKey(v);
      if (key === undefined) continue;
      let ids = index.get(key);
      if (!ids) index.set(key, (ids = new Set()));
      ids.add(id);
    }
  }

  delete(id: string): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    for (const [type, index] of this.indexes) {
      const v = old.get(type);
      const key = v === undefined ? undefined : indexKey(v);
      if (key !== undefined) index.get(key)?.delete(id);
    }
  }

  clear(): void {
    this.byId.clear();
    for (const index of this.indexes.values()) index.clear();
  }

  /** Ids of the objects that have every attribute of the template, with equal values. */
  find(template: AttributeMap): string[] {
    let candidates: Iterable<string> = this.byId.keys();
    let smallest = Infinity;
    for (const [type, index] of this.indexes) {
      const v = template.get(type);
      const key = v === undefined ? undefined : indexKey(v);
      if (key === undefined) continue;
      const ids = index.get(key);
      if (!ids) return [];
      if (ids.size < smallest) {
        smallest = ids.size;
        candidates = ids;
      }
    }
    const found: string[] = [];
    for (const id of candidates) {
      const attrs = this.byId.get(id);
      if (attrs && matches(attrs, template)) found.push(id);
    }
    return found;
  }
}

export function matches(attributes: AttributeMap, template: AttributeMap): boolean {
  for (const [type, value] of template) {
    const have = attributes.get(type);
    if (have === undefined || !valuesEqual(have, value)) return false;
  }
  return true;
}
