/**
 * The images the Docker integration tests run, built from Debian's busybox-static by
 * deploy/test-images/build.sh and pushed to a loopback registry (nothing comes from Docker Hub).
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export type TestImages = {
  /** Default command `sh`. */
  busybox: string;
  /** Default command `cat`: copies stdin to stdout. */
  echo: string;
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
