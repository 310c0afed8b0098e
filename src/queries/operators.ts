import { readState } from '../commands/handle-command.ts';
import { DomainError } from '../domain/errors.ts';
import { userStream } from '../domain/streams.ts';
import { userDecider } from '../domain/users.ts';
import type { QueryDeps } from './deps.ts';

/**
 * Operators are the users granted by `faasbox operators grant`. The rights are read from the
 * user's own stream on every request, not from the token or a read model, so that a revoke,
 * written by the command on any host, holds for the very next request at every api.
 */
export async function isOperator(deps: Pick<QueryDeps, 'store'>, userId: string): Promise<boolean> {
  const { state } = await readState(deps.store, userDecider, userStream(userId));
  return state.status === 'active' && state.operator;
}

/** Executions holding a slot now, in total and per user (with the user's email where known), busiest first. */
export function activeExecutions(deps: Pick<QueryDeps, 'projections'>) {
  const { executions, users } = deps.projections;
  const { total, byUser } = executions.active();
  const perUser = [...byUser]
    .map(([userId, active]) => ({ userId, email: users.get(userId)?.email ?? null, active }))
    .sort((a, b) => b.active - a.active || a.userId.localeCompare(b.userId));
  return { total, byUser: perUser };
}

/** Every account registered with the email (the live one first), with its functions and active executions. */
export function accountsByEmail(deps: Pick<QueryDeps, 'projections'>, email: string) {
  const { executions, users, functions } = deps.projections;
  const accounts = users.findByEmail(email);
  if (accounts.length === 0) throw new DomainError('AccountNotFound', 'no account ever had this email');
  const active = executions.active().byUser;
  return accounts.map((account) => ({
    ...account,
    functions: functions.countByOwner(account.id),
    activeExecutions: active.get(account.id) ?? 0,
  }));
}
