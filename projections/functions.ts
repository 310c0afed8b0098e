import type { FunctionDefinition, FunctionEvent } from '../src/domain/functions.ts';
import { streamPrefixes } from '../src/domain/streams.ts';
import type { UserEvent } from '../src/domain/users.ts';
import type { RecordedEvent } from '../src/ports/event-store.ts';
import type { Projection } from './projection.ts';

export type FunctionsProjection = Projection & {
  get(functionId: string): FunctionDefinition | undefined;
  /** The owner's live functions, newest first. */
  listByOwner(ownerId: string): FunctionDefinition[];
};

export function createFunctionsProjection(): FunctionsProjection {
  const functions = new Map<string, FunctionDefinition>();
  const byOwner = new Map<string, Set<string>>();
  // A function created in the instant its owner was being deleted must not outlive the owner.
  const deletedOwners = new Set<string>();

  const remove = (functionId: string) => {
    const definition = functions.get(functionId);
    if (!definition) return;
    functions.delete(functionId);
    byOwner.get(definition.ownerId)?.delete(functionId);
  };

  return {
    name: 'functions',
    streamPrefixes: [streamPrefixes.function, streamPrefixes.user],
    apply(recorded: RecordedEvent) {
      const event = recorded as unknown as (FunctionEvent | UserEvent) & RecordedEvent;
      switch (event.type) {
        case 'FunctionCreated': {
          const definition = event.data;
          if (deletedOwners.has(definition.ownerId)) return;
          functions.set(definition.functionId, definition);
          const owned = byOwner.get(definition.ownerId) ?? new Set<string>();
          owned.add(definition.functionId);
          byOwner.set(definition.ownerId, owned);
          return;
        }
        case 'FunctionDeleted':
          remove(event.data.functionId);
          return;
        case 'UserDeleted':
          deletedOwners.add(event.data.userId);
          for (const functionId of byOwner.get(event.data.userId) ?? []) remove(functionId);
          byOwner.delete(event.data.userId);
          return;
      }
    },
    get: (functionId) => functions.get(functionId),
    listByOwner: (ownerId) =>
      [...(byOwner.get(ownerId) ?? [])]
        .map((functionId) => functions.get(functionId))
        .filter((definition): definition is FunctionDefinition => definition !== undefined)
        // A Set keeps insertion order, which is the order of the global log.
        .reverse(),
  };
}
