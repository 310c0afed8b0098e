/**
 * Removing one image without force, and the engine's quirks on the way: an image with names in
 * several repositories, and a disk so full that the engine cannot save its own bookkeeping.
 */
import type Docker from 'dockerode';
import { engineMessage, hasImage } from '../docker-engine.ts';
import { isOutOfSpace } from './out-of-space.ts';

export type Removal = 'removed' | 'in use' | 'gone';

/** The image's tags and digests, without the engine's `<none>` placeholders. */
export const realNames = (image: Docker.ImageInfo) =>
  [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])].filter((name) => !name.startsWith('<none>'));

/**
 * Without force, so the engine refuses (409) an image that a container created since our
 * listing uses. An image with names in several repositories cannot be removed by id without
 * force; it goes name by name, the engine still refusing to remove the last name of an image a
 * container uses.
 */
export async function removeUnforced(docker: Docker, image: Docker.ImageInfo): Promise<Removal> {
  const byId = await removeById(docker, image);
  if (!byId.multipleRepositories) return byId.outcome;
  // Untagging all but the last name is allowed even under a container: look once more first.
  const users = await docker.listContainers({ all: true, filters: { ancestor: [image.Id] } });
  if (users.length > 0) return 'in use';
  for (const name of realNames(image)) {
    if ((await removeReference(docker, name)).outcome === 'in use') return 'in use';
  }
  return (await hasImage(docker, image.Id)) ? (await removeReference(docker, image.Id)).outcome : 'removed';
}

/**
 * On a disk full to the last block the engine cannot save its repositories.json, so removing a
 * tagged image fails with "no space left on device", yet the engine has dropped one of the
 * image's names in memory (Docker 20.10). Asking again drops the next name; with none left it
 * deletes the layers, which frees room, and its next save writes the names as they now are. So:
 * at most one try per name, plus one. Each try is the same unforced removal, with the engine's
 * conflict check first.
 */
async function removeById(docker: Docker, image: Docker.ImageInfo): Promise<{ outcome: Removal; multipleRepositories: boolean }> {
  const tries = realNames(image).length + 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return await removeReference(docker, image.Id);
    } catch (error) {
      if (attempt >= tries || !isOutOfSpace(error)) throw error;
    }
  }
}

async function removeReference(docker: Docker, reference: string): Promise<{ outcome: Removal; multipleRepositories: boolean }> {
  try {
    await docker.getImage(reference).remove();
    return { outcome: 'removed', multipleRepositories: false };
  } catch (error) {
    const status = (error as { statusCode?: unknown }).statusCode;
    if (status === 404) return { outcome: 'gone', multipleRepositories: false };
    if (status === 409) return { outcome: 'in use', multipleRepositories: /referenced in multiple repositories/.test(engineMessage(error)) };
    throw error;
  }
}
