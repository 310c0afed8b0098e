/**
 * Resolves an image's tag to its digest through the registry's HTTP API (the OCI distribution
 * spec: a HEAD of the manifest, whose `Docker-Content-Digest` header is the digest), as `docker
 * pull` does first. Anonymous: a registry that asks for a bearer token (Docker Hub) gets one from
 * the realm its challenge names, as an anonymous client; private registries need the worker's
 * credentials and are not supported here. fetch only, so that the api resolves on Node, Bun and
 * Deno alike; the libraries for this are Node-only HTTP clients.
 */
import { coordinatesOf } from '../../domain/image-reference.ts';
import { errorMessage } from '../../lib/error-message.ts';
import { type ImageResolver, ImageNotFoundError, RegistryUnavailableError } from '../../ports/image-resolver.ts';
import { isSha256Digest, manifestUrl, tokenRequestUrl } from './registry-api.ts';

/** Manifests and indexes, Docker's and OCI's: the digest of whichever the registry stores. */
const ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

/** A request waits this long for each answer: the api's caller waits for it. */
const TIMEOUT_MS = 10_000;

export function createRegistryImageResolver(options: { timeoutMs?: number } = {}): ImageResolver {
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  const request = async (url: string | URL, method: 'HEAD' | 'GET', headers: Record<string, string>, registry: string) => {
    try {
      return await fetch(url, { method, headers, redirect: 'follow', signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      throw new RegistryUnavailableError(`the registry ${registry} cannot be reached: ${causeOf(error)}`);
    }
  };
  return {
    async digestOf(image) {
      const coordinates = coordinatesOf(image);
      const { registry } = coordinates;
      if (coordinates.digest) return coordinates.digest;
      const url = manifestUrl(coordinates);
      let answer = await request(url, 'HEAD', { accept: ACCEPT }, registry);
      if (answer.status === 401) {
        const token = await anonymousToken(answer.headers.get('www-authenticate'), registry, (tokenUrl) => request(tokenUrl, 'GET', {}, registry));
        if (token) answer = await request(url, 'HEAD', { accept: ACCEPT, authorization: `Bearer ${token}` }, registry);
      }
      if (answer.status === 404 || answer.status === 401 || answer.status === 403) {
        // A registry answers 401 for a private repository and for one that does not exist alike.
        throw new ImageNotFoundError(`the image ${image} is not in its registry (${registry} answered ${answer.status}), or is private`);
      }
      const found = answer.headers.get('docker-content-digest');
      if (!answer.ok || !isSha256Digest(found)) {
        const said = answer.ok ? 'no sha256 digest' : `HTTP ${answer.status}`;
        throw new RegistryUnavailableError(`the registry ${registry} did not say which image ${image} is (${said})`);
      }
      return found;
    },
  };
}

/** A token for an anonymous pull, when the challenge is a bearer one; null when there is none to get. */
async function anonymousToken(challenge: string | null, registry: string, get: (url: URL) => Promise<Response>): Promise<string | null> {
  const url = tokenRequestUrl(challenge);
  if (!url) return null;
  const answer = await get(url);
  if (!answer.ok) return null;
  const body = (await answer.json().catch(() => null)) as { token?: unknown; access_token?: unknown } | null;
  const token = body?.token ?? body?.access_token;
  if (typeof token !== 'string') throw new RegistryUnavailableError(`the registry ${registry} gave no token: its realm ${url.origin} answered no JSON token`);
  return token;
}

/** What went wrong, in the system's words: `ECONNREFUSED`, `no answer in time`, fetch's `bad port`. */
const causeOf = (error: unknown) => {
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  const cause = error instanceof Error ? (error.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (typeof cause?.code === 'string') return cause.code;
  return typeof cause?.message === 'string' ? cause.message : errorMessage(error);
};
