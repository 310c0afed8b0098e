/**
 * Which engine errors mean "the Docker host is out of disk space" (the worker then prunes images
 * and retries once), and how the pruner matches image names to the engine's RepoTags. The
 * messages are the ones Docker 20.10 on overlay2 gave in test/disk-full.int.test.ts.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { canonicalImageName } from '../src/domain/image-reference.ts';
import { isOutOfSpace, isOutOfSpaceMessage } from '../worker/disk/index.ts';

const outOfSpace = suite('out of space');

const observed = {
  pullUnpacking: 'failed to register layer: Error processing tar file(exit status 1): write /filler: no space left on device',
  pullDownloading: 'write /var/lib/docker/tmp/GetImageBlob1143439461: no space left on device',
  create: 'mkdir /var/lib/docker/overlay2/9f45cfa0144d3359176d7e52c6cf075d5108c7510a80eb1c4ce3c261e19461dd-init: no space left on device',
  createLink: 'symlink ../ec934601565382b7ac14c5b665e12fed5804f7bf38adefa40fe19550d3c8acc9-init/diff /var/lib/docker/overlay2/l/IKWO3CIJAFXHVPNVT7UJ7Q5DLF: no space left on device',
  start: 'mkdir /var/lib/docker/overlay2/1c6037337d77ea8056828139ae17b9ac635709c16b512f9f7977a2f9b36e3cd4/merged: no space left on device',
  startNetworking:
    'failed to write unhaltered resolv.conf file content when setting up dns for sandbox ab385059646867f5: write /var/lib/docker/containers/dd538b28e06cb9dc/resolv.conf: no space left on device',
  startHosts: 'write /var/lib/docker/containers/a7e84730b23700a7/hosts: no space left on device',
};

outOfSpace('the engine’s messages for a pull, a create and a start on a full disk', () => {
  for (const [step, message] of Object.entries(observed)) assert.ok(isOutOfSpaceMessage(message), step);
});

outOfSpace('the same, as dockerode hands them over: a JSON body on an HTTP error, or a pull stream’s error event', () => {
  const httpError = Object.assign(new Error(`(HTTP code 500) server error - ${observed.create}`), {
    statusCode: 500,
    json: { message: observed.create },
  });
  assert.ok(isOutOfSpace(httpError));
  assert.ok(isOutOfSpace(new Error(observed.pullUnpacking)));
  assert.ok(isOutOfSpace(observed.start));
});

outOfSpace('other wordings: the OCI runtime’s, Node’s ENOSPC, Windows’', () => {
  assert.ok(isOutOfSpaceMessage('failed to create shim task: OCI runtime create failed: write /run/x/config.json: No space left on device: unknown'));
  assert.ok(isOutOfSpace(Object.assign(new Error('write failed'), { code: 'ENOSPC' })));
  assert.ok(isOutOfSpaceMessage('Error: ENOSPC: no space left on device, write'));
  assert.ok(isOutOfSpaceMessage('re-exec error: exit status 1: output: write \\\\?\\C:\\ProgramData\\docker\\tmp\\x: There is not enough space on the disk.'));
});

outOfSpace('other failures are not out of space', () => {
  for (const message of [
    'manifest for 127.0.0.1:5000/nope:1 not found: manifest unknown: manifest unknown',
    'No such image: 127.0.0.1:5000/x:1',
    'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
    'conflict: unable to delete 5f158eb3470a (must be forced) - image is referenced in multiple repositories',
    'driver failed programming external connectivity: device or resource busy',
    // A quota is the container's own (overlay2 on xfs with a size option): pruning images
    // would not give it room.
    'write /var/lib/docker/tmp/x: disk quota exceeded',
  ]) {
    assert.not.ok(isOutOfSpaceMessage(message), message);
  }
  assert.not.ok(isOutOfSpace(null));
  assert.not.ok(isOutOfSpace(Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' })));
});

outOfSpace('words a function’s owner chose (an image name, a quoted command) do not look like a full disk', () => {
  // Image names are lower case, so ENOSPC in one is never the upper-case error code.
  assert.not.ok(isOutOfSpaceMessage('manifest for 127.0.0.1:5000/enospc:1 not found: manifest unknown'));
  assert.not.ok(isOutOfSpaceMessage('pull access denied for no-space-left-on-device, repository does not exist'));
  assert.not.ok(
    isOutOfSpaceMessage('OCI runtime create failed: runc create failed: unable to start container process: exec: "no space left on device": executable file not found in $PATH: unknown'),
  );
  assert.not.ok(isOutOfSpaceMessage('exec: "say \\"no space left on device\\"": executable file not found in $PATH'));
});

outOfSpace.run();

const names = suite('image names the pruner matches');

names('a reference and the engine’s RepoTag for the same image are equal', () => {
  const same = (a: string, b: string) => assert.is(canonicalImageName(a), canonicalImageName(b), `${a} = ${b}`);
  same('busybox', 'busybox:latest');
  same('busybox', 'docker.io/library/busybox:latest');
  same('library/busybox:1', 'index.docker.io/library/busybox:1');
  same('someone/tool', 'docker.io/someone/tool:latest');
  same('127.0.0.1:5000/faasbox/filler-1:1', '127.0.0.1:5000/faasbox/filler-1:1');
  same('localhost/x', 'localhost/x:latest');
  const digest = `sha256:${'a'.repeat(64)}`;
  same(`127.0.0.1:5000/x:1@${digest}`, `127.0.0.1:5000/x@${digest}`);
});

names('different images stay different', () => {
  const differ = (a: string, b: string) => assert.is.not(canonicalImageName(a), canonicalImageName(b), `${a} ≠ ${b}`);
  differ('busybox:1', 'busybox:2');
  differ('127.0.0.1:5000/x:1', '127.0.0.1:5001/x:1');
  differ('127.0.0.1:5000/x:1', 'x:1');
  differ('someone/x', 'library/x');
  // A first component without a dot, colon or capital is a path, not a registry.
  differ('registry/x:1', 'registry.local/x:1');
  const id = `sha256:${'b'.repeat(64)}`;
  assert.is(canonicalImageName(id), id, 'an image id is its own name');
});

names.run();
