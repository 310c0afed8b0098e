/**
 * Small facts about the Docker engine that the runtime (docker/) and the image pruner (disk/)
 * both need: whether an image is there, and what an engine error says, in one short line. Kept
 * beside both rooms, not in either: the runtime uses the pruner, so the pruner may not import
 * the runtime's room.
 */
import type Docker from 'dockerode';
import { errorMessage } from '../src/lib/error-message.ts';

export async function hasImage(docker: Docker, reference: string): Promise<boolean> {
  return (await inspectImage(docker, reference)) !== null;
}

/** The image's own description; null when the engine does not have it. */
export async function inspectImage(docker: Docker, reference: string): Promise<Docker.ImageInspectInfo | null> {
  try {
    return await docker.getImage(reference).inspect();
  } catch (error) {
    if ((error as { statusCode?: unknown }).statusCode === 404) return null;
    throw error;
  }
}

/** A create (or start) refused because the image is not on the engine. */
export function isNoSuchImage(error: unknown): boolean {
  return (error as { statusCode?: unknown } | null)?.statusCode === 404 && /^no such image/i.test(engineMessage(error));
}

/**
 * The engine's own words, without docker-modem's "(HTTP code 404) unexpected - " prefix, the OCI
 * runtime's layers of "failed to create shim task: …", and echoes like "manifest unknown:
 * manifest unknown": one short line a function's owner can act on.
 */
export function engineMessage(error: unknown): string {
  const { json } = (error ?? {}) as { json?: { message?: unknown } | null };
  let text = typeof json?.message === 'string' ? json.message : messageOf(error).replace(/^\(HTTP code \d+\) .*? - /, '');
  text = text.replace(/^.*unable to start container process: /, '').replace(/: unknown\s*$/, '');
  const parts = text.split(': ').map((part) => part.trim());
  const distinct = parts.filter((part, index) => part !== parts[index - 1]);
  return shortLine(distinct.join(': '));
}

export function messageOf(error: unknown): string {
  return shortLine(errorMessage(error));
}

function shortLine(text: string, max = 300): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
