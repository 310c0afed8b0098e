/**
 * Moving tags in a registry through its HTTP API (the distribution spec), as a CI pipeline pushing
 * a new build would: no image is built or pulled, and the engine's local images stay as they are,
 * so that what a worker runs is pulled or not on its own terms.
 */
import * as assert from 'uvu/assert';

const MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json';

type Manifest = { mediaType?: string; config: { digest: string }; layers: Array<{ digest: string }>; [field: string]: unknown };

/** `registry/repository:tag` in parts. */
function partsOf(image: string): { registry: string; repository: string; tag: string } {
  const match = /^([^/]+)\/(.+):([^:/@]+)$/.exec(image);
  if (!match) throw new Error(`${image} is no registry/repository:tag`);
  return { registry: match[1]!, repository: match[2]!, tag: match[3]! };
}

/**
 * Points `to` (any repository of the same registry) at the image `from` names, and answers its
 * digest. With `variant`, the manifest carries that as an extra field: the same image under
 * another digest, one no engine has pulled yet.
 */
export async function pushTag(from: string, to: string, options: { variant?: string } = {}): Promise<string> {
  const source = partsOf(from);
  const target = partsOf(to);
  assert.is(target.registry, source.registry, 'one registry');
  const base = `http://${source.registry}/v2`;
  const got = await fetch(`${base}/${source.repository}/manifests/${source.tag}`, { headers: { accept: MANIFEST } });
  assert.is(got.status, 200, `GET the manifest of ${from}`);
  const contentType = got.headers.get('content-type')!;
  let body = new Uint8Array(await got.arrayBuffer());
  const manifest = JSON.parse(new TextDecoder().decode(body)) as Manifest;
  if (target.repository !== source.repository) {
    // Blobs belong to a repository: the target's gets them by a cross-repository mount.
    for (const { digest } of [manifest.config, ...manifest.layers]) {
      const mount = await fetch(`${base}/${target.repository}/blobs/uploads/?mount=${digest}&from=${source.repository}`, { method: 'POST' });
      assert.is(mount.status, 201, `mount ${digest} into ${target.repository}: ${await mount.text()}`);
    }
  }
  if (options.variant !== undefined) body = new TextEncoder().encode(JSON.stringify({ ...manifest, faasboxTestVariant: options.variant }));
  const put = await fetch(`${base}/${target.repository}/manifests/${target.tag}`, { method: 'PUT', headers: { 'content-type': contentType }, body });
  assert.is(put.status, 201, `PUT ${to}: ${await put.text()}`);
  return put.headers.get('docker-content-digest')!;
}

/** Deletes the manifest `digest` from the repository of `image`: every tag on it goes too. */
export async function deleteManifest(image: string, digest: string): Promise<void> {
  const { registry, repository } = partsOf(image);
  const deleted = await fetch(`http://${registry}/v2/${repository}/manifests/${digest}`, { method: 'DELETE' });
  assert.is(deleted.status, 202, `DELETE ${repository}@${digest}: ${await deleted.text()}`);
}
