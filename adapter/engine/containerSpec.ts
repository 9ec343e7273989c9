// Container mode's options as users write them (the CLI's --mount, the launch configuration's
// "container.mounts"): one parser, one set of messages.
import fs from 'node:fs';
import path from 'node:path';
import { AxolotlError, type ContainerMount } from './types';

/**
 * Checkpoints a container run keeps unless told otherwise (--max-saves, "maxCheckpoints"): each is a
 * whole podman archive, as big as the program's memory, with no pages shared between them.
 */
export const CONTAINER_MAX_SAVES = 10;

/** `SRC[:DST][:ro|rw]`: SRC on the host (relative to `cwd`), DST in the container (default: SRC's own path). */
export function parseMount(text: string, cwd: string, what = '--mount'): ContainerMount {
  const parts = text.split(':');
  let readOnly = false;
  if (parts.length > 1 && ['ro', 'rw'].includes(parts[parts.length - 1])) readOnly = parts.pop() === 'ro';
  if (parts.length > 2 || !parts[0]) throw new AxolotlError(`${what} ${text}: expected SRC[:DST][:ro]`, 'For example ./data:/data:ro');
  const source = path.resolve(cwd, parts[0]);
  if (!fs.existsSync(source)) throw new AxolotlError(`${what} ${text}: ${source} does not exist`);
  const target = parts[1] ?? source;
  if (!path.isAbsolute(target)) throw new AxolotlError(`${what} ${text}: the path in the container must be absolute, got "${target}"`);
  return { source, target: path.normalize(target), ...(readOnly ? { readOnly } : {}) };
}
