/**
 * The images the execution benchmarks run: the test images (busybox-static, deploy/test-images)
 * in a loopback registry, started once for the whole run and shared by every group, so only the
 * first execution of a run pulls.
 */
import type Docker from 'dockerode';
import { type Registry, startRegistry } from '../test/support/registry.ts';
import { type TestImages, ensureTestImages } from '../test/support/test-images.ts';

let shared: Promise<{ registry: Registry; images: TestImages }> | undefined;

export function benchImages(): Promise<TestImages> {
  shared ??= (async () => {
    const registry = await startRegistry();
    try {
      return { registry, images: await ensureTestImages(registry.address) };
    } catch (error) {
      await registry.stop();
      throw error;
    }
  })();
  return shared.then(({ images }) => images);
}

/**
 * Stops the registry and removes what the engine pulled from it: its port changes with every
 * run, so the images would otherwise pile up under a new name each time.
 */
export async function releaseBenchImages(docker: Docker): Promise<void> {
  const started = shared;
  shared = undefined;
  if (!started) return;
  const { registry, images } = await started.catch(() => ({ registry: null, images: null }));
  if (images) {
    for (const image of Object.values(images)) await docker.getImage(image).remove({ force: true }).catch(() => {});
  }
  await registry?.stop();
}
