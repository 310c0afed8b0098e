/**
 * The ImageResolver port: what digest an image reference names in its registry now, so that a
 * function version runs the same bytes however its tag moves later. Adapter: the registry's HTTP
 * API (src/adapters/image-registry); in-process tests script it.
 */
export type ImageResolver = {
  /** Resolves to `sha256:…`; rejects with ImageNotFoundError or RegistryUnavailableError. */
  digestOf(image: string): Promise<string>;
};

/** The registry answered, and has no such image (or tag). */
export class ImageNotFoundError extends Error {
  override readonly name = 'ImageNotFoundError';
}

/** The registry could not be asked: unreachable, refusing, or answering nonsense. */
export class RegistryUnavailableError extends Error {
  override readonly name = 'RegistryUnavailableError';
}
