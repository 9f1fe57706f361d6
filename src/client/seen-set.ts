/** A bounded set that forgets its oldest entries: what the SDK has already shown, for de-duplication. */
export class SeenSet {
  readonly #entries = new Set<string>();
  readonly #capacity: number;

  /** @param capacity How many keys to remember. */
  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity);
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Adds a key; returns false when it was already there. */
  add(key: string): boolean {
    if (this.#entries.has(key)) return false;
    this.#entries.add(key);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.values().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    return true;
  }

  get size(): number {
    return this.#entries.size;
  }
}
