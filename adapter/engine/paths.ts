// Where the engine's own runtime files live, whether it runs bundled (dist/*.js), compiled for tests
// (out/adapter/engine/*.js) or packaged in a .vsix: walk up until the Python agent folder appears.
import fs from 'node:fs';
import path from 'node:path';

let cached: string | undefined;

/** Absolute path of the folder holding `axolotl_agent/` and the restore wrapper. */
export function pythonDir(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'adapter', 'python');
    if (fs.existsSync(path.join(candidate, 'axolotl_agent'))) return (cached = candidate);
    dir = path.dirname(dir);
  }
  throw new Error(`cannot find adapter/python above ${__dirname}; the installation is incomplete`);
}

export function restoreWrapperPath(): string {
  return path.join(pythonDir(), 'axolotl_restore.py');
}
