#!/usr/bin/env node
// Serves the package root on 127.0.0.1 for the browser demo in demo/index.html.
// Usage: node demo/serve.mjs [--port N]   (or PORT=N; default 8080, 0 picks a free port)

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';
const DEFAULT_PORT = 8080;
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const BROWSER_BUILD = join(ROOT, 'dist/browser/index.js');

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.md': 'text/plain; charset=utf-8',
};

// Cross-origin isolation gives the page SharedArrayBuffer. All files come from this origin, so
// nothing the demo loads is blocked by it.
const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Reads the port from `--port N`, `--port=N` or the PORT environment variable. */
function readPort(args, env) {
  let text = env.PORT ?? String(DEFAULT_PORT);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') text = args[++i] ?? '';
    else if (args[i].startsWith('--port=')) text = args[i].slice('--port='.length);
    else if (args[i] === '--help' || args[i] === '-h') return null;
    else throw new Error(`unknown argument "${args[i]}". Usage: node demo/serve.mjs [--port N], or npm run demo -- --port N`);
  }

  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) {
    throw new Error(`invalid port "${text}". Pass an integer from 0 to 65535 (0 picks a free port).`);
  }
  return port;
}

/** Maps a request path to a file under ROOT, or returns null when it would leave ROOT. */
function resolveRequestPath(pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;

  const path = resolve(join(ROOT, decoded));
  return path === ROOT || path.startsWith(ROOT + sep) ? path : null;
}

function statOrNull(path) {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

function sendText(response, status, text, headers = {}) {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  response.end(`${text}\n`);
}

function handleRequest(request, response) {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    sendText(response, 405, 'method not allowed', { Allow: 'GET, HEAD' });
    return;
  }

  const { pathname } = new URL(request.url ?? '/', `http://${HOST}`);
  if (pathname === '/') {
    response.writeHead(302, { Location: '/demo/' }).end();
    return;
  }

  let path = resolveRequestPath(pathname);
  if (path === null) {
    sendText(response, 400, 'invalid path');
    return;
  }

  let stat = statOrNull(path);
  if (stat?.isDirectory()) {
    if (!pathname.endsWith('/')) {
      response.writeHead(301, { Location: `${pathname}/` }).end();
      return;
    }
    path = join(path, 'index.html');
    stat = statOrNull(path);
  }
  if (!stat?.isFile()) {
    sendText(response, 404, `not found: ${pathname}`);
    return;
  }

  response.writeHead(200, {
    'Content-Type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
    'Content-Length': stat.size,
    'Cache-Control': 'no-store',
    ...ISOLATION_HEADERS,
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }

  // A file removed or unreadable after the stat ends the response instead of the server.
  createReadStream(path)
    .on('error', (error) => {
      console.error(`omninet demo: reading ${path} for ${pathname} failed: ${error.message}`);
      response.destroy(error);
    })
    .pipe(response);
}

function main() {
  let port;
  try {
    port = readPort(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`omninet demo: ${error.message}`);
    process.exit(2);
  }
  if (port === null) {
    console.log('Usage: node demo/serve.mjs [--port N]\nServes the package root on 127.0.0.1. The port comes from --port or PORT (default 8080, 0 picks a free port).');
    return;
  }

  if (!existsSync(BROWSER_BUILD)) {
    console.error(`omninet demo: ${BROWSER_BUILD} is missing. Run \`npm run build\` first, then \`npm run demo\` again.`);
    process.exit(1);
  }

  const server = createServer(handleRequest);
  server.on('error', (error) => {
    if (error.code === 'EADDRINUSE') {
      console.error(`omninet demo: port ${port} on ${HOST} is already in use. Choose another with npm run demo -- --port N (or PORT=N), or --port 0 for a free one.`);
    } else {
      console.error(`omninet demo: the server failed: ${error.message}`);
    }
    process.exit(1);
  });
  server.listen(port, HOST, () => {
    console.log(`omninet demo: http://${HOST}:${server.address().port}/demo/`);
    console.log('Press Ctrl+C to stop.');
  });
}

main();
