/**
 * The images the Docker integration tests run, built from Debian's busybox-static and one static
 * program of ours by deploy/test-images/build.sh and pushed to a loopback registry (nothing comes
 * from Docker Hub).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export type TestImages = {
  /** Default command `sh`. */
  busybox: string;
  /** Default command `cat`: copies stdin to stdout. */
  echo: string;
  /** busybox with /tmp 0755 root, as a bare `docker import` of a rootfs often has. */
  busyboxTmp0755: string;
  /** Scratch: one static program (deploy/test-images/probe.c), no shell, no libc, no /tmp. */
  probe: string;
};

const buildScript = fileURLToPath(new URL('../../deploy/test-images/build.sh', import.meta.url));
const builds = new Map<string, Promise<TestImages>>();

/** Builds and pushes the test images to the registry once per registry; local tags are removed. */
export function ensureTestImages(registryAddress: string): Promise<TestImages> {
  let build = builds.get(registryAddress);
  if (!build) {
    build = runBuildScript(registryAddress).then(() => ({
      busybox: `${registryAddress}/faasbox/busybox:1`,
      echo: `${registryAddress}/faasbox/echo:1`,
      busyboxTmp0755: `${registryAddress}/faasbox/busybox-tmp0755:1`,
      probe: `${registryAddress}/faasbox/probe:1`,
    }));
    // A failed build may be retried by the next caller.
    build.catch(() => builds.delete(registryAddress));
    builds.set(registryAddress, build);
  }
  return build;
}

async function runBuildScript(registryAddress: string): Promise<void> {
  try {
    await promisify(execFile)('bash', [buildScript, registryAddress], { timeout: 60_000 });
  } catch (error) {
    const { stderr, stdout, message } = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`deploy/test-images/build.sh ${registryAddress} failed: ${message}\n${stdout ?? ''}${stderr ?? ''}`);
  }
}
