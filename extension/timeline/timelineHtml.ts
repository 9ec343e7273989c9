// The timeline webview's HTML. A pure function of (cspSource, URIs, nonce) so it can be unit-tested;
// timelineView.ts supplies the real values (webview.cspSource, asWebviewUri, makeNonce).
import { randomBytes } from 'node:crypto';

export interface TimelineHtmlInput {
  /** webview.cspSource */
  cspSource: string;
  /** per-render nonce from makeNonce() */
  nonce: string;
  /** webview URI of dist/webview.js */
  scriptUri: string;
  /** webview URI of media/timeline.css */
  styleUri: string;
  /** webview URI of codicon.css (its codicon.ttf beside it) */
  codiconUri: string;
  /** document title, for the panel */
  title?: string;
  /** where it is shown: the sidebar's timeline offers to move to the panel area */
  host?: 'sidebar' | 'panel' | 'editor';
}

/** A fresh nonce for one render: 128 random bits, base64. */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

/** Scripts only with the nonce; styles, fonts and images only from the extension's own files. */
export function timelineCsp(cspSource: string, nonce: string): string {
  return `default-src 'none'; style-src ${cspSource}; font-src ${cspSource}; img-src ${cspSource}; script-src 'nonce-${nonce}'`;
}

/** Escapes text for element content and double-quoted attributes (single quotes may stay: the CSP has them). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function timelineHtml(input: TimelineHtmlInput): string {
  const e = escapeHtml;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${e(timelineCsp(input.cspSource, input.nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${e(input.codiconUri)}">
<link rel="stylesheet" href="${e(input.styleUri)}">
<title>${e(input.title ?? 'Axolotl Timeline')}</title>
</head>
<body data-host="${e(input.host ?? 'editor')}">
<div id="root"></div>
<script nonce="${e(input.nonce)}" src="${e(input.scriptUri)}"></script>
</body>
</html>
`;
}
