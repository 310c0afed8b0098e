/**
 * The registry resolver (src/adapters/image-registry) against a real registry, Debian's
 * docker-registry on loopback: a pushed tag resolves to the digest of its manifest, an absent one
 * is not found, and a registry that cannot be asked (nothing listening, no answer, nonsense) is
 * unavailable; behind token authentication (the real registry, a token realm of the test's own) an
 * anonymous pull token is fetched, and a realm that refuses makes the image not found.
 */
import { createHash } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { type Server, type Socket, createServer as createTcpServer } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRegistryImageResolver } from '../src/adapters/image-registry/index.ts';
import { ImageNotFoundError, RegistryUnavailableError } from '../src/ports/image-resolver.ts';
import { type Registry, startRegistry } from './support/registry.ts';
import { LOOPBACK, freePort } from './support/service-process.ts';
import { type TestImages, ensureTestImages } from './support/test-images.ts';
import { type TokenRealm, startTokenRealm } from './support/token-realm.ts';

const test = suite('image registry resolver [real registry]');
const resolver = createRegistryImageResolver();
let registry: Registry;
let images: TestImages;

/** The error `promise` rejects with; fails when it resolves. */
async function refusal(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new assert.Assertion({ message: `resolved with ${JSON.stringify(outcome.value)}`, operator: 'rejects', generated: false, actual: outcome.value, expects: 'a rejection' });
  return outcome.error as Error;
}

/** The digest of the manifest as the registry stores it: the sha256 of its bytes. */
async function manifestDigest(image: string): Promise<string> {
  const [, address, repository, tag] = /^([^/]+)\/(.+):([^:/]+)$/.exec(image)!;
  const manifest = await fetch(`http://${address}/v2/${repository}/manifests/${tag}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
  return `sha256:${createHash('sha256').update(new Uint8Array(await manifest.arrayBuffer())).digest('hex')}`;
}

test('a loopback registry starts with the test images', async () => {
  registry = await startRegistry();
  images = await ensureTestImages(registry.address);
});

test('a pushed tag resolves to the digest of its manifest; another tag of another image to another', async () => {
  const echo = await resolver.digestOf(images.echo);
  assert.match(echo, /^sha256:[0-9a-f]{64}$/);
  assert.is(echo, await manifestDigest(images.echo));
  assert.is.not(await resolver.digestOf(images.busybox), echo);
  // A reference that names its digest needs no registry: one that is nowhere resolves all the same.
  assert.is(await resolver.digestOf(`127.0.0.1:1/nowhere:1@${echo}`), echo);
});

test('an absent tag, or an absent repository, is not found: the error names the image and the registry', async () => {
  for (const image of [`${registry.address}/faasbox/echo:absent`, `${registry.address}/faasbox/absent:1`]) {
    const error = await refusal(resolver.digestOf(image));
    assert.instance(error, ImageNotFoundError, image);
    assert.match(error.message, image);
    assert.match(error.message, `${registry.address} answered 404`);
  }
});

test('nothing listening on the port: unavailable at once, saying so', async () => {
  const image = `${LOOPBACK}:${await freePort()}/faasbox/echo:1`;
  const started = Date.now();
  const error = await refusal(resolver.digestOf(image));
  assert.instance(error, RegistryUnavailableError);
  assert.match(error.message, /cannot be reached: ECONNREFUSED/);
  assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms`);
});

test('a registry that never answers is unavailable after the timeout; one that answers nonsense is unavailable too', async () => {
  const sockets: Socket[] = [];
  const silent: Server = createTcpServer((socket) => void sockets.push(socket));
  const nonsense = createHttpServer((request, response) => {
    if (request.url?.includes('broken')) response.writeHead(500).end();
    else response.writeHead(200, { 'content-type': 'text/html' }).end('<html>a web page</html>');
  });
  await Promise.all([silent, nonsense].map((server) => new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve))));
  const portOf = (server: { address(): unknown }) => (server.address() as { port: number }).port;
  try {
    const quick = createRegistryImageResolver({ timeoutMs: 300 });
    const timedOut = await refusal(quick.digestOf(`${LOOPBACK}:${portOf(silent)}/app:1`));
    assert.instance(timedOut, RegistryUnavailableError);
    assert.match(timedOut.message, /no answer in time/);
    const page = await refusal(resolver.digestOf(`${LOOPBACK}:${portOf(nonsense)}/app:1`));
    assert.instance(page, RegistryUnavailableError);
    assert.match(page.message, /did not say which image .*app:1 is \(no sha256 digest\)/);
    const broken = await refusal(resolver.digestOf(`${LOOPBACK}:${portOf(nonsense)}/broken:1`));
    assert.instance(broken, RegistryUnavailableError);
    assert.match(broken.message, /HTTP 500/);
  } finally {
    for (const socket of sockets) socket.destroy();
    await Promise.all([silent, nonsense].map((server) => new Promise((resolve) => server.close(resolve))));
  }
});

test('behind token authentication: an anonymous pull token for the repository is fetched from the realm; a realm that refuses makes it not found', async () => {
  let realm: TokenRealm | undefined;
  let guarded: Registry | undefined;
  try {
    realm = await startTokenRealm();
    // The same images, behind the realm.
    guarded = await startRegistry({ storage: registry.storage, config: realm.registryConfig });
    const challenge = await fetch(`http://${guarded.address}/v2/faasbox/echo/manifests/1`, { method: 'HEAD' });
    assert.is(challenge.status, 401, 'the registry wants a token');
    const image = `${guarded.address}/faasbox/echo:1`;
    assert.is(await resolver.digestOf(image), await resolver.digestOf(images.echo));
    assert.equal(
      realm.requests.map((query) => [query.get('service'), query.get('scope')]),
      [['faasbox-test-registry', 'repository:faasbox/echo:pull']],
    );
    const absent = await refusal(resolver.digestOf(`${guarded.address}/faasbox/echo:absent`));
    assert.instance(absent, ImageNotFoundError);
    realm.grants = false;
    const refused = await refusal(resolver.digestOf(image));
    assert.instance(refused, ImageNotFoundError);
    assert.match(refused.message, /answered 401\), or is private/);
  } finally {
    await guarded?.stop();
    await realm?.stop();
  }
});

test('the registry stops', async () => {
  await registry.stop();
});

test.run();
