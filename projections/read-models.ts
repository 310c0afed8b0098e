import type { SqliteDatabase } from '../src/ports/sqlite.ts';
import { type CallbacksProjection, createCallbacksProjection } from './callbacks.ts';
import { type ExecutionsProjection, createExecutionsProjection } from './executions.ts';
import { type FunctionsProjection, createFunctionsProjection } from './functions.ts';
import type { Projection } from './projection.ts';
import { prepareReadModelDatabase } from './read-model-store.ts';
import { type StreamsByUserProjection, createStreamsByUserProjection } from './streams-by-user.ts';
import { type UsersProjection, createUsersProjection } from './users.ts';

export type ReadModels = {
  users: UsersProjection;
  functions: FunctionsProjection;
  executions: ExecutionsProjection;
  streamsByUser: StreamsByUserProjection;
  callbacks: CallbacksProjection;
  /** All of them, in the order they are applied. */
  all: readonly Projection[];
};

/** Every read model Faasbox keeps, on one read-model database. */
export function createReadModels(db: SqliteDatabase): ReadModels {
  prepareReadModelDatabase(db);
  const users = createUsersProjection(db);
  const functions = createFunctionsProjection(db);
  const executions = createExecutionsProjection(db);
  const streamsByUser = createStreamsByUserProjection(db);
  const callbacks = createCallbacksProjection(db);
  return { users, functions, executions, streamsByUser, callbacks, all: [users, functions, executions, streamsByUser, callbacks] };
}
