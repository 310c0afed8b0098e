import { DomainError } from '../domain/errors.ts';
import { registryOf } from '../domain/image-reference.ts';
import { ImageNotFoundError, RegistryUnavailableError } from '../ports/image-resolver.ts';
import type { CommandDeps } from './deps.ts';

/** A registry that could not be asked may answer in a few seconds: the client is told to wait that long. */
const RETRY_AFTER_SECONDS = 5;

/**
 * The digest `image` names in its registry now, asked before a version is decided: a version
 * whose image cannot be resolved is refused, never recorded pointing at nothing.
 */
export async function pinImage(deps: Pick<CommandDeps, 'images'>, image: string): Promise<string> {
  try {
    return await deps.images.digestOf(image);
  } catch (error) {
    const details = { image, registry: registryOf(image) };
    if (error instanceof ImageNotFoundError) throw new DomainError('ImageNotFound', error.message, undefined, details);
    if (error instanceof RegistryUnavailableError) {
      throw new DomainError('RegistryUnavailable', `the digest of ${image} could not be resolved: ${error.message}`, RETRY_AFTER_SECONDS, details);
    }
    throw error;
  }
}
