import type { Decider, DomainEvent } from './decider.ts';
import { DomainError } from './errors.ts';
import type { RetryPolicy } from './retries.ts';

export type FunctionSpec = {
  name: string;
  image: string;
  command: string[] | null;
  env: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  /**
   * Pre-started containers each worker keeps for it from its creation on, called or not (0: only
   * while it is called). Absent from functions created before it existed: read it with minWarmOf.
   */
  minWarm?: number;
  /**
   * One container serves successive executions of it, one at a time, cleaned in between (its
   * owner's opt-in). Absent from functions created before it existed: read it with reuseOf.
   */
  reuse?: boolean;
  /** How its asynchronous executions are retried (src/domain/retries.ts); absent: never. */
  retry?: RetryPolicy;
};

export type FunctionDefinition = FunctionSpec & { functionId: string; ownerId: string; createdAt: string };

export const minWarmOf = (definition: Pick<FunctionSpec, 'minWarm'>): number => definition.minWarm ?? 0;

export const reuseOf = (definition: Pick<FunctionSpec, 'reuse'>): boolean => definition.reuse ?? false;

/** What workers need to keep a function's containers ready before any call; null when it asks for none. */
export const warmTargetOf = ({ functionId, ownerId, image, command, env, memoryMb, minWarm, reuse }: FunctionDefinition) =>
  minWarm ? { functionId, ownerId, image, command, env, memoryMb, reuse: reuse ?? false, minWarm } : null;

export type FunctionEvent =
  | DomainEvent<'FunctionCreated', FunctionDefinition>
  | DomainEvent<'FunctionDeleted', { functionId: string; deletedAt: string; reason: 'deleted by owner' | 'owner deleted' }>;

export type FunctionState =
  | { status: 'absent' }
  | { status: 'active'; definition: FunctionDefinition }
  | { status: 'deleted'; definition: FunctionDefinition };

export type FunctionCommand =
  | { type: 'CreateFunction'; functionId: string; ownerId: string; spec: FunctionSpec; now: Date }
  /** `requesterId` null: the platform itself, removing the functions of a deleted user. */
  | { type: 'DeleteFunction'; requesterId: string | null; now: Date };

export const functionDecider: Decider<FunctionCommand, FunctionEvent, FunctionState> = {
  initialState: () => ({ status: 'absent' }),

  evolve: (state, event) => {
    switch (event.type) {
      case 'FunctionCreated':
        return { status: 'active', definition: event.data };
      case 'FunctionDeleted':
        return state.status === 'active' ? { status: 'deleted', definition: state.definition } : state;
    }
  },

  decide: (command, state) => {
    switch (command.type) {
      case 'CreateFunction':
        if (state.status !== 'absent') throw new DomainError('FunctionAlreadyExists', 'the function already exists');
        return [
          {
            type: 'FunctionCreated',
            data: {
              functionId: command.functionId,
              ownerId: command.ownerId,
              ...command.spec,
              createdAt: command.now.toISOString(),
            },
          },
        ];
      case 'DeleteFunction': {
        if (state.status !== 'active') throw new DomainError('FunctionNotFound', 'no such function');
        const byOwner = command.requesterId !== null;
        if (byOwner && state.definition.ownerId !== command.requesterId) {
          throw new DomainError('NotFunctionOwner', 'the function belongs to another user');
        }
        return [
          {
            type: 'FunctionDeleted',
            data: {
              functionId: state.definition.functionId,
              deletedAt: command.now.toISOString(),
              reason: byOwner ? 'deleted by owner' : 'owner deleted',
            },
          },
        ];
      }
    }
  },
};
