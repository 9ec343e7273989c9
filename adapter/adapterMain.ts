// The standalone debug adapter (`node dist/adapter.js`): DAP over stdin/stdout, for tests and for
// editors other than VS Code. The extension runs the same session class inline.
import { DebugSession } from '@vscode/debugadapter';
import { AxolotlSession } from './session/axolotlSession';

class StandaloneSession extends AxolotlSession {
  constructor() {
    super({ apiKey: process.env.AXOLOTL_API_KEY });
  }
}

DebugSession.run(StandaloneSession);
