/**
 * The grammar of a container image reference, as the Docker distribution project defines it
 * (github.com/distribution/reference, regexp.go): [registry[:port]/]path[:tag][@digest].
 */
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const name = `(?:${domain}/)?${pathComponent}(?:/${pathComponent})*`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const reference = new RegExp(`^(${name})(?::${tag})?(?:@${digest})?$`);

const MAX_NAME_LENGTH = 255;

export function isImageReference(value: string): boolean {
  const match = reference.exec(value);
  return match !== null && (match[1]?.length ?? 0) <= MAX_NAME_LENGTH;
}

const DOCKER_HUB = 'docker.io';

/**
 * The registry an image is pulled from, as Docker decides it: the first path component when it
 * names a host, else Docker Hub (`docker.io`, which `index.docker.io` also names).
 */
export function registryOf(reference: string): string {
  return splitRegistry(reference).registry;
}

/**
 * One spelling per image name, so that `busybox`, `docker.io/library/busybox:latest` and the
 * engine's RepoTag `busybox:latest` are equal: registry, path (`library/` before a single name on
 * Docker Hub), then the tag (default `latest`) or, when there is one, only the digest (the engine
 * pulls by digest and ignores the tag then). An image id (`sha256:` and 64 hex digits) is its own name.
 */
export function canonicalImageName(reference: string): string {
  let rest = reference.trim();
  if (/^sha256:[0-9a-f]{64}$/.test(rest)) return rest;
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at);
    rest = rest.slice(0, at);
  }
  let tag = 'latest';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const { registry, path } = splitRegistry(rest);
  const fullPath = registry === DOCKER_HUB && !path.includes('/') ? `library/${path}` : path;
  return digest ? `${registry}/${fullPath}${digest}` : `${registry}/${fullPath}:${tag}`;
}

/**
 * Docker's rule (splitDockerDomain in github.com/distribution/reference, normalize.go): the first
 * of several components is a registry host when it is `localhost`, has a `.` or a `:` (a domain,
 * an IP address, a port, `[::1]`), or has a capital letter (a path may not, so it can only be a
 * host); anything else is a path on Docker Hub. Engines older than the capital-letter case
 * (Docker 20.10) refuse such a name outright ("repository name must be lowercase"): on no engine
 * is it Docker Hub, which is what the registry allowlist needs to know. A tag or digest holds no
 * `/`, so the first slash of a whole reference is in its name.
 */
function splitRegistry(name: string): { registry: string; path: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { registry: DOCKER_HUB, path: name };
  const first = name.slice(0, slash);
  const isHost = first === 'localhost' || first.includes('.') || first.includes(':') || first !== first.toLowerCase();
  if (!isHost) return { registry: DOCKER_HUB, path: name };
  return { registry: first === 'index.docker.io' ? DOCKER_HUB : first, path: name.slice(slash + 1) };
}

/** Where an image reference points in its registry: the repository path and a tag or a digest. */
export type ImageCoordinates = { registry: string; repository: string; tag: string; digest: string | null };

/** The parts of a reference as a registry's API names them (`library/` before a single name on Docker Hub). */
export function coordinatesOf(reference: string): ImageCoordinates {
  const canonical = canonicalImageName(reference);
  const at = canonical.indexOf('@');
  const name = at >= 0 ? canonical.slice(0, at) : canonical.slice(0, canonical.lastIndexOf(':'));
  const { registry, path } = splitRegistry(name);
  const tag = at >= 0 ? tagOf(reference) : canonical.slice(canonical.lastIndexOf(':') + 1);
  return { registry, repository: path, tag, digest: at >= 0 ? canonical.slice(at + 1) : null };
}

/** The tag a reference names (`latest` when none), whether or not it also names a digest. */
function tagOf(reference: string): string {
  const name = reference.split('@')[0]!;
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(colon + 1) : 'latest';
}

/** The reference pinned to `digest`: its name and tag as written, then the digest (what the engine pulls). */
export const pinnedReference = (reference: string, digest: string): string => `${reference.split('@')[0]}@${digest}`;

