/**
 * One read of each stored upload for keyholders prepared together. Each keyholder's
 * PrepareDecryption stream needs every receipted upload (33 MB for 10^6 parameters), read and
 * SHA-256-checked against the digest logged at acceptance; streams prepared at the same time take
 * the same read-only views instead of each reading and hashing the file again. An entry is dropped
 * once all `readers` have taken it, and the oldest is dropped while more than `capacity` wait (a
 * reader far behind then reads for itself), so at most `capacity` uploads are held.
 */
export class SharedReads<T> {
  private readonly readers: number;
  private readonly capacity: number;
  private readonly entries = new Map<number, { value: T; taken: number }>();

  constructor(readers: number, capacity: number) {
    if (!Number.isInteger(readers) || readers < 1) throw new RangeError('readers must be ≥ 1');
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be ≥ 1');
    this.readers = readers;
    this.capacity = capacity;
  }

  /** The value under `key`: read once with `read` and handed to each of the readers. */
  get(key: number, read: () => T): T {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      entry.taken++;
      if (entry.taken >= this.readers) this.entries.delete(key);
      return entry.value;
    }
    const value = read();
    if (this.readers > 1) {
      this.entries.set(key, { value, taken: 1 });
      // Maps iterate in insertion order: the first key is the oldest entry.
      while (this.entries.size > this.capacity)
        this.entries.delete(this.entries.keys().next().value!);
    }
    return value;
  }

  /** Entries held now (for tests). */
  get size(): number {
    return this.entries.size;
  }
}
