/**
 * Where a registry's HTTP API answers, as the Docker engine finds it: pure, so that the rules are
 * tested without a registry (test/image-registry.unit.test.ts).
 */
import type { ImageCoordinates } from '../../domain/image-reference.ts';

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;

/** The host the API of a registry answers on: Docker Hub's is not `docker.io`. */
const apiHost = (registry: string) => (registry === 'docker.io' ? 'registry-1.docker.io' : registry);

/**
 * The manifest of a tag. Loopback registries are spoken to over plain HTTP, as the engine does
 * without any configuration (its default insecure registries are 127.0.0.0/8); every other one
 * over HTTPS.
 */
export function manifestUrl({ registry, repository, tag }: Pick<ImageCoordinates, 'registry' | 'repository' | 'tag'>): string {
  const scheme = LOOPBACK.test(registry) ? 'http' : 'https';
  return `${scheme}://${apiHost(registry)}/v2/${repository}/manifests/${encodeURIComponent(tag)}`;
}

/**
 * Where an anonymous client asks for a pull token, from a 401's challenge (Docker's token
 * authentication: `Bearer realm="…",service="…",scope="…"`); null when the challenge is no bearer
 * one (Basic: the registry wants credentials) or names no realm.
 */
export function tokenRequestUrl(challenge: string | null): URL | null {
  if (!challenge || !/^bearer\s/i.test(challenge)) return null;
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1]!.toLowerCase(), match[2]!]));
  if (!params.realm || !URL.canParse(params.realm)) return null;
  const realm = new URL(params.realm);
  if (params.service) realm.searchParams.set('service', params.service);
  if (params.scope) realm.searchParams.set('scope', params.scope);
  return realm;
}

/** Only sha256 digests: what the engine pulls by, and all a registry reports (distribution spec). */
export const isSha256Digest = (value: string | null): value is string => value !== null && /^sha256:[0-9a-f]{64}$/.test(value);
