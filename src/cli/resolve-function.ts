import type { ApiClient, FaasFunction } from './api-client.ts';
import { CliError } from './cli-error.ts';
import type { Session } from './client-session.ts';
import { UUID } from '../domain/ids.ts';


export type ResolvedFunction = { id: string; definition?: FaasFunction };

/**
 * An id is used as it is; a name is looked up among the caller's functions. Names need not be
 * unique, so a name that two functions share is refused with their ids, never guessed.
 */
export async function resolveFunction(session: Session, api: ApiClient, ref: string): Promise<ResolvedFunction> {
  session.context.subject = ref;
  if (UUID.test(ref)) return { id: ref.toLowerCase() };
  const named = (await api.listFunctions()).filter((f) => f.name === ref);
  if (named.length === 0) throw new CliError(`no function named ${ref}: see faasbox fn ls`, 'function-not-found');
  if (named.length > 1) {
    throw new CliError(
      `${named.length} functions are named ${ref}; give one of their ids: ${named.map((f) => f.id).join(', ')}`,
      'ambiguous-name',
    );
  }
  return { id: named[0]!.id, definition: named[0]! };
}
