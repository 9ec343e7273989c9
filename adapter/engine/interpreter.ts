// Resolves the Python interpreter once per run: the real executable (not a pyenv shim, whose extra
// exec would otherwise be timed and dumped) and its version.
import { execa } from 'execa';
import { AxolotlError } from './types';

export interface Interpreter {
  executable: string;
  version: string;
}

export async function resolveInterpreter(python: string, cwd?: string): Promise<Interpreter> {
  const res = await execa(python, ['-c', 'import sys; print(sys.executable); print("%d.%d.%d" % sys.version_info[:3])'], {
    reject: false,
    cwd,
    timeout: 20_000,
    stdin: 'ignore',
  });
  const [executable, version] = String(res.stdout ?? '').trim().split('\n');
  if (res.exitCode !== 0 || !executable || !version) {
    throw new AxolotlError(
      `cannot run the Python interpreter "${python}"`,
      'Install Python 3.8 or newer, or pass --python /path/to/python3.',
      String(res.stderr ?? res.message ?? '').trim(),
    );
  }
  const [major, minor] = version.split('.').map(Number);
  if (major < 3 || (major === 3 && minor < 8)) {
    throw new AxolotlError(`${python} is Python ${version}; Axolotl needs Python 3.8 or newer`, 'Pass --python with a newer interpreter.');
  }
  return { executable, version };
}
