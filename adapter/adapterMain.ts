// The standalone debug adapter (`node dist/adapter.js`): DAP over stdin/stdout, for tests and for
// editors other than VS Code. The extension runs the same session class inline.
import { DebugSession } from '@vscode/debugadapter';
import { AxolotlSession } from './session/axolotlSession';

class StandaloneSession extends AxolotlSession {
  constructor() {
    super({ apiKey: process.env.AXOLOTL_API_KEY });
    // The client may vanish (stdin closed, SIGTERM from the runtime is handled by DebugSession.run,
    // a hang-up or Ctrl-C): the program is stopped before the adapter exits, never left behind.
    for (const sig of ['SIGHUP', 'SIGINT'] as const) process.on(sig, () => this.shutdown());
  }
}

// Writing to a client that has gone away must not crash the adapter before it stops the program.
process.stdout.on('error', () => undefined);

DebugSession.run(StandaloneSession);
