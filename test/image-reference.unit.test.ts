/**
 * One rule for "which registry does this image come from", used by the api (registryOf, for the
 * registry allowlist) and by the worker's pruner (canonicalImageName, to match a function's image
 * to the engine's RepoTags). Before they shared it, the api's copy took a capitalised first
 * component for a Docker Hub path, `index.docker.io` for a registry of its own, and a bracketed
 * name without a colon for an IPv6 host; the pruner's copy, like Docker, did none of these.
 * Docker's rule: splitDockerDomain in github.com/distribution/reference (normalize.go).
 */
import fc from 'fast-check';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalImageName, isImageReference, registryOf } from '../src/domain/image-reference.ts';

const rule = suite('the registry of an image reference');

rule('a first component with a capital letter is a registry host, never a Docker Hub path', () => {
  // Paths are lower case, so Docker takes such a component for a host (a 2019 fix in
  // distribution/reference; Docker 20.10 still refuses the name outright). Read as Docker Hub,
  // `Evil/app` would pass an allowlist of `docker.io` and be pulled from the host `evil`.
  for (const [reference, registry] of [
    ['Evil/app', 'Evil'],
    ['FOO/bar:1', 'FOO'],
    ['Registry/team/app@sha256:' + 'c'.repeat(64), 'Registry'],
  ] as const) {
    assert.ok(isImageReference(reference), reference);
    assert.is(registryOf(reference), registry, reference);
    assert.is.not(registryOf(reference), 'docker.io', reference);
  }
  assert.is(canonicalImageName('Evil/app'), 'Evil/app:latest');
  assert.is(canonicalImageName('FOO/bar:1'), 'FOO/bar:1');
});

rule('index.docker.io is Docker Hub, spelt docker.io', () => {
  assert.is(registryOf('index.docker.io/library/busybox:1'), 'docker.io');
  assert.is(registryOf('index.docker.io/someone/tool'), 'docker.io');
  assert.is(canonicalImageName('index.docker.io/busybox'), 'docker.io/library/busybox:latest');
  assert.is(canonicalImageName('index.docker.io/someone/tool'), 'docker.io/someone/tool:latest');
});

rule('brackets make an IPv6 host only with a colon inside, as for any host with a port or address', () => {
  assert.is(registryOf('[::1]:5000/x'), '[::1]:5000');
  assert.is(registryOf('[::1]/x'), '[::1]');
  // `[abc]` is no IPv6 address: Docker reads it as a Docker Hub path (and then refuses the name).
  assert.is(registryOf('[abc]/x'), 'docker.io');
  assert.is(canonicalImageName('[abc]/x'), 'docker.io/[abc]/x:latest');
});

rule('what both copies agreed on stays: a dot, a colon or localhost makes a host; else Docker Hub', () => {
  for (const [reference, registry, canonical] of [
    ['busybox', 'docker.io', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io', 'docker.io/library/busybox:1.36'],
    ['docker.io/busybox', 'docker.io', 'docker.io/library/busybox:latest'],
    ['library/busybox:1', 'docker.io', 'docker.io/library/busybox:1'],
    ['someone/tool', 'docker.io', 'docker.io/someone/tool:latest'],
    ['registry/x:1', 'docker.io', 'docker.io/registry/x:1'],
    ['localhost/app', 'localhost', 'localhost/app:latest'],
    ['localhost:5000/app', 'localhost:5000', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/faasbox/echo:1', '127.0.0.1:5000', '127.0.0.1:5000/faasbox/echo:1'],
    ['registry.example.com/team/app', 'registry.example.com', 'registry.example.com/team/app:latest'],
    // A single name is on Docker Hub even when it looks like a host: the colon is its tag's.
    ['localhost:5000', 'docker.io', 'docker.io/library/localhost:5000'],
  ] as const) {
    assert.is(registryOf(reference), registry, reference);
    assert.is(canonicalImageName(reference), canonical, reference);
  }
});

rule('the api and the pruner name the same registry for every reference', () => {
  const lower = fc.stringMatching(/^[a-z0-9]{1,8}$/);
  const firstComponent = fc.oneof(
    lower,
    fc.constantFrom('localhost', 'docker.io', 'index.docker.io', 'Registry', 'ABC', '[::1]', '[abc]'),
    fc.tuple(lower, lower).map(([a, b]) => `${a}.${b}`),
    fc.tuple(lower, fc.integer({ min: 1, max: 65535 })).map(([host, port]) => `${host}:${port}`),
  );
  const reference = fc
    .tuple(
      fc.option(firstComponent, { nil: undefined }),
      fc.array(lower, { minLength: 1, maxLength: 3 }),
      fc.option(fc.stringMatching(/^[\w][\w.-]{0,7}$/), { nil: undefined }),
      fc.option(fc.stringMatching(/^[0-9a-f]{64}$/), { nil: undefined }),
    )
    .map(([first, path, tag, digest]) => {
      const name = [...(first === undefined ? [] : [first]), ...path].join('/');
      return `${name}${tag === undefined ? '' : `:${tag}`}${digest === undefined ? '' : `@sha256:${digest}`}`;
    });
  fc.assert(
    fc.property(reference, (ref) => {
      assert.ok(canonicalImageName(ref).startsWith(`${registryOf(ref)}/`), `${ref}: ${canonicalImageName(ref)} is not on ${registryOf(ref)}`);
    }),
  );
});

rule.run();
