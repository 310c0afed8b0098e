/**
 * An ImageResolver for the app suites, with no registry: a tag names the sha256 of its own
 * canonical name until the test moves it, and a test can make an image absent or its registry
 * unreachable. It keeps the port's promises as src/adapters/image-registry keeps them: a
 * reference that names a digest resolves to it without asking.
 */
import { createHash } from 'node:crypto';
import { canonicalImageName, coordinatesOf } from '../../src/domain/image-reference.ts';
import { type ImageResolver, ImageNotFoundError, RegistryUnavailableError } from '../../src/ports/image-resolver.ts';

export type ScriptedImages = ImageResolver & {
  /** Every reference the registry was asked about, in order. */
  readonly asked: readonly string[];
  /** The digest `image` names now (what `digestOf` would answer), without asking. */
  current(image: string): string;
  /** The tag is pushed again, as another image: from now on it names another digest. */
  move(image: string): string;
  /** From now on the registry has no such image (until `heal`). */
  absent(image: string): void;
  /** From now on the registry of `image` cannot be reached (until `heal`). */
  unreachable(image: string): void;
  heal(): void;
};

export function createScriptedImages(): ScriptedImages {
  const asked: string[] = [];
  const pushes = new Map<string, number>();
  const absent = new Set<string>();
  const unreachable = new Set<string>();
  const current = (image: string) => {
    const name = canonicalImageName(image);
    return `sha256:${createHash('sha256').update(`${name}#${pushes.get(name) ?? 0}`).digest('hex')}`;
  };
  return {
    asked,
    current,
    move(image) {
      const name = canonicalImageName(image);
      pushes.set(name, (pushes.get(name) ?? 0) + 1);
      return current(image);
    },
    absent: (image) => void absent.add(canonicalImageName(image)),
    unreachable: (image) => void unreachable.add(coordinatesOf(image).registry),
    heal() {
      absent.clear();
      unreachable.clear();
    },
    async digestOf(image) {
      const { registry, digest } = coordinatesOf(image);
      if (digest) return digest;
      asked.push(image);
      if (unreachable.has(registry)) throw new RegistryUnavailableError(`the registry ${registry} cannot be reached: ECONNREFUSED`);
      if (absent.has(canonicalImageName(image))) throw new ImageNotFoundError(`the image ${image} is not in its registry (${registry} answered 404), or is private`);
      return current(image);
    },
  };
}
