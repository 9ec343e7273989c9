// Whether container mode can run here, and its backend: every missing piece (root, podman, runc, the
// init podman injects, a proven criu for runc, the image) is said before anything starts.
import type { CheckpointBackend, BackendContext } from './backend';
import { ContainerBackend } from './containerBackend';
import { findCriu, whyNot } from './criuLocator';
import { findPodmanTools, imageExists, needsOwnContainersConf, podmanEnv, podmanVersion, runcVersion, scratchDir } from './podman';
import { AxolotlError, type BackendKind, type RunOptions } from './types';

export async function containerBackendFactory(
  run: RunOptions, requested: BackendKind, env: NodeJS.ProcessEnv = process.env,
): Promise<(python: string, ctx: BackendContext) => CheckpointBackend> {
  const spec = run.container!;
  if (requested === 'fork') {
    throw new AxolotlError('--container runs the program in a container that podman checkpoints with criu: --backend fork does not apply',
      'Leave out --backend (or use criu).');
  }
  if (process.getuid?.() !== 0) {
    throw new AxolotlError('container mode needs root: podman checkpoints only containers run by root',
      'Run as root (e.g. sudo axolotl run --container …), or run without --container.');
  }
  const { tools, missing } = findPodmanTools(env);
  if (!tools) {
    throw new AxolotlError(`container mode needs ${missing.map((m) => m.name).join(', ')}, which ${missing.length > 1 ? 'are' : 'is'} not installed`,
      missing.map((m) => `${m.name}: ${m.fix}`).join('\n'));
  }
  // runc runs this criu for podman: the one proven here by a real dump and restore.
  const criu = await findCriu(env);
  if (!criu?.works) {
    throw new AxolotlError(criu ? `runc needs a working criu: ${whyNot(criu)}` : 'runc needs criu to checkpoint a container, and criu is not installed',
      'Run `npm run setup` (scripts/install-criu.sh); `axolotl doctor` says more.', criu?.proof.log);
  }
  const criuFor = { path: criu.path, env: criu.proof.env };
  if (!(await imageExists(tools.podman, spec.image, podmanEnv(criuFor, scratchDir(), env)))) {
    throw new AxolotlError(`the image ${spec.image} is not on this machine`,
      'podman images lists the images here; import one (podman import rootfs.tar NAME) or build it. No registry is asked.');
  }
  return (_python, ctx) => new ContainerBackend({
    spec, tools, criu: criuFor, workspace: [run.root, run.cwd], env: run.env,
  }, ctx);
}

/** One line of `axolotl doctor` (doctor.ts's DoctorItem). */
export interface ContainerDoctorItem {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
  optional: true;
}

/**
 * What `axolotl run --container` needs here, for `axolotl doctor`. Optional items: the process modes
 * do not need any of it. `criu`: the criu proven for the process modes (runc runs the same one).
 */
export async function containerDoctorItems(criu: { path: string; works: boolean } | undefined, env: NodeJS.ProcessEnv = process.env): Promise<ContainerDoctorItem[]> {
  const items: ContainerDoctorItem[] = [];
  const { tools, missing } = findPodmanTools(env);
  for (const m of missing) items.push({ name: m.name, ok: false, optional: true, detail: `${m.name} is not installed (container mode needs it)`, fix: m.fix });
  if (tools) {
    const t = tools;
    const [pv, rv] = await Promise.all([podmanVersion(t.podman), runcVersion(t.runc)]);
    items.push({ name: 'podman', ok: true, optional: true, detail: `${t.podman} (version ${pv ?? '?'}), runc ${rv ?? '?'} (${t.runc}); podman's crun is not used: Debian 12's cannot checkpoint` });
  }
  const root = process.getuid?.() === 0;
  items.push(criu?.works
    ? { name: 'runc criu', ok: true, optional: true, detail: `runc will run ${criu.path} (put first on PATH for podman), the criu proven here` }
    : { name: 'runc criu', ok: false, optional: true, detail: 'no proven criu for runc to run', fix: 'Run `npm run setup` (scripts/install-criu.sh).' });
  if (needsOwnContainersConf(env)) {
    items.push({ name: 'rlimits', ok: true, optional: true, detail: 'root here lacks CAP_SYS_RESOURCE: podman gets a containers.conf of Axolotl\'s without default ulimits (CONTAINERS_CONF)' });
  }
  const ready = !!tools && root && !!criu?.works;
  items.push(ready
    ? { name: 'containers', ok: true, optional: true, detail: 'axolotl run --container IMAGE can checkpoint here (the image must be on this machine: podman images)' }
    : {
        name: 'containers', ok: false, optional: true,
        detail: root ? 'axolotl run --container cannot checkpoint here yet (see above)' : 'container mode needs root (podman checkpoints only containers run by root)',
        ...(root ? {} : { fix: 'Run axolotl as root for --container.' }),
      });
  return items;
}
