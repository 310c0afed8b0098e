/**
 * Resolves an image's tag to its digest through the registry's HTTP API (the OCI distribution
 * spec: a HEAD of the manifest, whose `Docker-Content-Digest` header is the digest), as `docker
 * pull` does first. Anonymous: a registry that asks for a bearer token (Docker Hub) gets one from
 * the realm its challenge names, as an anonymous client; private registries need the worker's
 * credentials and are not supported here. Loopback registries are spoken to over plain HTTP, as
 * the Docker engine does by default; every other one over HTTPS. fetch only, so that the api
 * resolves on Node, Bun and Deno alike; the libraries for this are Node-only HTTP clients.
 */
import { coordinatesOf } from '../../domain/image-reference.ts';
import { errorMessage } from '../../lib/error-message.ts';
import { type ImageResolver, ImageNotFoundError, RegistryUnavailableError } from '../../ports/image-resolver.ts';

/** Manifests and indexes, Docker's and OCI's: the digest of whichever the registry stores. */
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

const TIMEOUT_MS = 10_000;

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;

/** The host the API of a registry answers on: Docker Hub's is not `docker.io`. */
const apiHost = (registry: string) => (registry === 'docker.io' ? 'registry-1.docker.io' : registry);

export function createRegistryImageResolver(options: { timeoutMs?: number } = {}): ImageResolver {
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const request = async (url: string, headers: Record<string, string>, registry: string) => {
    try {
      return await fetch(url, { method: 'HEAD', headers, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new RegistryUnavailableError(`the registry ${registry} cannot be reached: ${causeOf(error)}`);
    }
  };
  return {
    async digestOf(image) {
      const { registry, repository, tag, digest } = coordinatesOf(image);
      if (digest) return digest;
      const scheme = LOOPBACK.test(registry) ? 'http' : 'https';
      const url = `${scheme}://${apiHost(registry)}/v2/${repository}/manifests/${encodeURIComponent(tag)}`;
      let answer = await request(url, { accept: ACCEPT }, registry);
      if (answer.status === 401) {
        const token = await anonymousToken(answer.headers.get('www-authenticate'), registry, timeoutMs);
        if (token) answer = await request(url, { accept: ACCEPT, authorization: `Bearer ${token}` }, registry);
      }
      if (answer.status === 404 || answer.status === 401 || answer.status === 403) {
        // A registry answers 401 for a private repository and for one that does not exist alike.
        throw new ImageNotFoundError(`the image ${image} is not in its registry (${registry} answered ${answer.status}), or is private`);
      }
      const found = answer.headers.get('docker-content-digest');
      if (!answer.ok || found === null || !/^sha256:[0-9a-f]{64}$/.test(found)) {
        throw new RegistryUnavailableError(`the registry ${registry} did not say which image ${image} is (HTTP ${answer.status})`);
      }
      return found;
    },
  };
}

/** A token for an anonymous pull, when the challenge is a bearer one (RFC 6750; Docker's token auth). */
async function anonymousToken(challenge: string | null, registry: string, timeoutMs: number): Promise<string | null> {
  if (!challenge || !/^bearer\s/i.test(challenge)) return null;
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1]!.toLowerCase(), match[2]!]));
  if (!params.realm) return null;
  const realm = new URL(params.realm);
  if (params.service) realm.searchParams.set('service', params.service);
  if (params.scope) realm.searchParams.set('scope', params.scope);
  try {
    const answer = await fetch(realm, { signal: AbortSignal.timeout(timeoutMs) });
    if (!answer.ok) return null;
    const body = (await answer.json()) as { token?: unknown; access_token?: unknown };
    const token = body.token ?? body.access_token;
    return typeof token === 'string' ? token : null;
  } catch (error) {
    throw new RegistryUnavailableError(`the registry ${registry} gave no token: ${causeOf(error)}`);
  }
}

const causeOf = (error: unknown) => {
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  return typeof cause?.code === 'string' ? cause.code : errorMessage(error);
};
