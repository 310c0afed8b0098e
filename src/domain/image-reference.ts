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

/**
 * The registry an image is pulled from, as Docker decides it: the first path component when it
 * looks like a host (has a dot or a port, or is localhost), else Docker Hub.
 */
export function registryOf(reference: string): string {
  const slash = reference.indexOf('/');
  const first = slash === -1 ? '' : reference.slice(0, slash);
  const isHost = first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[');
  return isHost ? first : 'docker.io';
}
