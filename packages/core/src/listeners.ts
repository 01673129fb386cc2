/**
 * Internal: a set of listeners for one event. `add` returns its own removal; `emit` calls each
 * listener and contains a listener that throws (reported through `onError`), so user callbacks
 * can never break the stream or the state machine that emits.
 */
export interface Listeners<A extends unknown[]> {
  readonly size: number;
  add(listener: (...args: A) => void): () => void;
  emit(...args: A): void;
  clear(): void;
}

/** Internal: creates a `Listeners` set; `onError` hears about listeners that threw. */
export function createListeners<A extends unknown[]>(onError: (error: unknown) => void): Listeners<A> {
  const set = new Set<(...args: A) => void>();
  return {
    get size() {
      return set.size;
    },
    add(listener) {
      set.add(listener);
      return () => {
        set.delete(listener);
      };
    },
    emit(...args) {
      for (const listener of set) {
        try {
          listener(...args);
        } catch (error) {
          onError(error);
        }
      }
    },
    clear() {
      set.clear();
    },
  };
}
