// Bundles the four entry points with esbuild. `vscode` stays external: the extension host provides it.
import fs from 'node:fs';
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');
const common = {
  bundle: true,
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};
const node = { ...common, platform: 'node', target: 'node20', format: 'cjs' };
const builds = [
  { ...node, entryPoints: ['extension/extension.ts'], outfile: 'dist/extension.js', external: ['vscode'] },
  { ...node, entryPoints: ['adapter/adapterMain.ts'], outfile: 'dist/adapter.js' },
  { ...node, entryPoints: ['adapter/cli/main.ts'], outfile: 'dist/cli.js', banner: { js: '#!/usr/bin/env node' } },
  // The scripted OpenAI-compatible model the demo and the e2e tests talk to (not shipped in the .vsix).
  { ...node, entryPoints: ['dev/modelServer.ts'], outfile: 'dist/dev/modelServer.js' },
  { ...common, platform: 'browser', target: 'es2022', format: 'iife', entryPoints: ['webview/main.ts'], outfile: 'dist/webview.js' },
];
const existing = builds.filter((b) => b.entryPoints.every((e) => fs.existsSync(e)));
if (watch) {
  for (const b of existing) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(existing.map((b) => esbuild.build(b)));
}
// Codicons for the timeline webview, beside the bundle (localResourceRoots: dist/ and media/ only).
fs.mkdirSync('dist/codicons', { recursive: true });
for (const f of ['codicon.css', 'codicon.ttf']) fs.copyFileSync(`node_modules/@vscode/codicons/dist/${f}`, `dist/codicons/${f}`);
