// Entry of the timeline webview bundle (dist/webview.js, an IIFE loaded with the page's nonce).
import { TimelineApp, type WebviewApi } from './timelineApp';

declare function acquireVsCodeApi(): WebviewApi;

const root = document.getElementById('root') ?? document.body;
new TimelineApp(document, acquireVsCodeApi()).start(root, window);
