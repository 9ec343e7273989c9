// Which checkpoint backend a run gets: criu when it can work here, else fork snapshots (no root,
// no criu). An explicit --backend is obeyed or refused with the reason, never silently replaced.
// And the engine of a run on it (createEngine), which the CLI and the debug session start from.
import { containerBackendFactory } from './containerChoice';
import { findCriu, whyNot } from './criuLocator';
import { ForkBackend } from './forkBackend';
import { helperBackendIfAvailable } from './helperBackend';
import { Supervisor, type SupervisorDeps } from './supervisor';
import { AxolotlError, type BackendKind, type CheckpointKind, type RunOptions } from './types';

export interface BackendChoice {
  deps: SupervisorDeps;
  kind: CheckpointKind;
  /** why auto chose fork, for the user */
  note?: string;
}

/** `run`: the run's options; a run with `container` gets container mode (containerChoice.ts). */
export async function chooseBackend(requested: BackendKind, env: NodeJS.ProcessEnv = process.env, run?: RunOptions): Promise<BackendChoice> {
  if (run?.container) return { kind: 'container', deps: { backend: await containerBackendFactory(run, requested, env) } };
  const fork: BackendChoice = { kind: 'fork', deps: { backend: () => new ForkBackend() } };
  if (requested === 'fork') return fork;
  const root = process.getuid?.() === 0;
  if (!root) {
    // criu through the pkexec helper (criu runs as this user with one capability).
    const helper = await helperBackendIfAvailable();
    if (helper.backend) return { kind: 'criu', deps: { backend: helper.backend } };
    if (requested === 'criu') {
      throw new AxolotlError('criu needs root privileges to checkpoint', 'Run as root (e.g. sudo axolotl run …), use --backend fork, or see `axolotl doctor`.', helper.why);
    }
    return { ...fork, note: 'not root: using fork snapshots (no criu); see `axolotl doctor` for criu' };
  }
  // Only a criu proven here by a real dump and restore (cached per kernel and criu) is used.
  const criu = await findCriu(env);
  if (criu?.works) return { kind: 'criu', deps: { criu: criu.path, criuEnv: criu.proof.env } };
  if (requested === 'criu') {
    if (!criu) throw new AxolotlError('criu is not installed', 'Run `npm run setup` (scripts/install-criu.sh), or `axolotl doctor` for details.');
    throw new AxolotlError(whyNot(criu), 'Run scripts/install-criu.sh: it keeps the first criu that passes a real dump and restore here. `axolotl doctor` says more.', criu.proof.log);
  }
  return { ...fork, note: criu ? `${whyNot(criu)}: using fork snapshots` : 'criu is not installed: using fork snapshots' };
}

/** A run's engine, not started yet, and what to tell the user about how it checkpoints. */
export interface Engine {
  supervisor: Supervisor;
  note?: string;
}

/** How a consumer gets its engine: the debug session takes one, as a test may give its own. */
export type EngineFactory = (opts: RunOptions) => Promise<Engine>;

/** The engine on the backend chosen for this machine. */
export const createEngine: EngineFactory = async (opts) => {
  const choice = await chooseBackend(opts.backend, process.env, opts);
  return { supervisor: new Supervisor(opts, choice.deps), note: choice.note };
};
