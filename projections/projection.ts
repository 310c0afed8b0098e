import type { RecordedEvent } from '../src/ports/event-store.ts';

/** A read model fed from the global log. `apply` must be deterministic: a rebuild equals the live model. */
export interface Projection {
  readonly name: string;
  /** Streams whose events this read model needs. */
  readonly streamPrefixes: readonly string[];
  apply(event: RecordedEvent): void;
}
