// The webview HTML: exact CSP, nonce on the one script, nothing inline, escaped URIs.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { escapeHtml, makeNonce, timelineCsp, timelineHtml } from '../../extension/timeline/timelineHtml';

const input = {
  cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
  nonce: 'abc123+/XYZ=',
  scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview.js',
  styleUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/media/timeline.css',
  codiconUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/codicons/codicon.css',
};

describe('timeline HTML', () => {
  const html = timelineHtml(input);

  test('the CSP is exactly the strict one', () => {
    const csp = `default-src 'none'; style-src ${input.cspSource}; font-src ${input.cspSource}; img-src ${input.cspSource}; script-src 'nonce-${input.nonce}'`;
    assert.equal(timelineCsp(input.cspSource, input.nonce), csp);
    const metas = [...html.matchAll(/<meta http-equiv="Content-Security-Policy" content="([^"]*)">/g)];
    assert.equal(metas.length, 1);
    assert.equal(metas[0]![1], csp);
    // It comes before anything that loads.
    assert.ok(html.indexOf('Content-Security-Policy') < html.indexOf('<link'));
  });

  test('one script, external, with the nonce; no inline script, style or handler', () => {
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.equal(scripts.length, 1);
    assert.equal(scripts[0]![1], ` nonce="${input.nonce}" src="${input.scriptUri}"`);
    assert.equal(scripts[0]![2], '', 'no inline code');
    assert.doesNotMatch(html, /<style/i);
    assert.doesNotMatch(html, /\sstyle=/i);
    assert.doesNotMatch(html, /\son[a-z]+=/i);
    assert.doesNotMatch(html, /javascript:/i);
  });

  test('stylesheets: codicons first, then the timeline', () => {
    const links = [...html.matchAll(/<link rel="stylesheet" href="([^"]*)">/g)].map((m) => m[1]);
    assert.deepEqual(links, [input.codiconUri, input.styleUri]);
    assert.match(html, /<div id="root"><\/div>/);
  });

  test('URIs and titles are escaped', () => {
    const evil = timelineHtml({ ...input, scriptUri: 'x"><script>alert(1)</script>', title: '<b>&' });
    assert.doesNotMatch(evil, /<script>alert/);
    assert.match(evil, /src="x&#34;&#62;&#60;script&#62;alert\(1\)&#60;\/script&#62;"/);
    assert.match(evil, /<title>&#60;b&#62;&#38;<\/title>/);
    assert.equal(escapeHtml(`a&b<c>"d'`), `a&#38;b&#60;c&#62;&#34;d'`);
  });

  test('nonces are fresh, 128-bit, base64', () => {
    const a = makeNonce();
    const b = makeNonce();
    assert.notEqual(a, b);
    assert.match(a, /^[A-Za-z0-9+/]{22}==$/);
    assert.equal(Buffer.from(a, 'base64').length, 16);
  });
});
