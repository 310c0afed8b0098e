/**
 * Where the registry resolver asks (src/adapters/image-registry/registry-api.ts): the manifest's
 * URL as the Docker engine would find it, and the token realm of a bearer challenge. Against a
 * real registry: test/image-registry.int.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isSha256Digest, manifestUrl, tokenRequestUrl } from '../src/adapters/image-registry/registry-api.ts';
import { coordinatesOf } from '../src/domain/image-reference.ts';

const api = suite('the registry API a tag is resolved through');

api('loopback registries over plain HTTP, every other one over HTTPS; Docker Hub at its API host, library/ before a single name', () => {
  for (const [image, url] of [
    ['127.0.0.1:5000/faasbox/echo:1', 'http://127.0.0.1:5000/v2/faasbox/echo/manifests/1'],
    ['localhost:5000/app', 'http://localhost:5000/v2/app/manifests/latest'],
    ['localhost/app:2', 'http://localhost/v2/app/manifests/2'],
    ['[::1]:5000/app:2', 'http://[::1]:5000/v2/app/manifests/2'],
    ['127.10.0.1:5000/app:2', 'http://127.10.0.1:5000/v2/app/manifests/2'],
    ['registry.example.com/team/app:1.2', 'https://registry.example.com/v2/team/app/manifests/1.2'],
    // Not loopback, though it starts alike.
    ['127.0.0.1.nip.io:5000/app:1', 'https://127.0.0.1.nip.io:5000/v2/app/manifests/1'],
    ['busybox', 'https://registry-1.docker.io/v2/library/busybox/manifests/latest'],
    ['docker.io/someone/tool:v1', 'https://registry-1.docker.io/v2/someone/tool/manifests/v1'],
  ] as const) {
    assert.is(manifestUrl(coordinatesOf(image)), url, image);
  }
});

api("a bearer challenge names the realm to ask, with its service and scope; Basic or no realm: no token to get", () => {
  const url = tokenRequestUrl('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"');
  assert.is(url?.href, 'https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fbusybox%3Apull');
  assert.is(tokenRequestUrl('bearer realm="http://127.0.0.1:1234/auth"')?.href, 'http://127.0.0.1:1234/auth');
  assert.is(tokenRequestUrl('Basic realm="Registry Realm"'), null);
  assert.is(tokenRequestUrl('Bearer service="x"'), null);
  assert.is(tokenRequestUrl('Bearer realm="not a url"'), null);
  assert.is(tokenRequestUrl(null), null);
});

api('only a sha256 digest of 64 lower-case hex digits is a digest', () => {
  assert.ok(isSha256Digest(`sha256:${'a'.repeat(64)}`));
  for (const value of [null, '', `sha256:${'A'.repeat(64)}`, `sha256:${'a'.repeat(63)}`, `sha512:${'a'.repeat(128)}`, `sha256:${'a'.repeat(64)}\n`]) {
    assert.not.ok(isSha256Digest(value), String(value));
  }
});

api.run();
