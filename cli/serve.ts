// `attngrad serve [--port N] [--host H]`: the playground and the bench page (web/) from a small
// static server. It listens at once and builds the bundle when it is missing (esbuild, 1–4 s),
// holding requests until the build is done, and answers GET and HEAD with the two headers that
// make a page cross-origin isolated, which shared memory (SharedArrayBuffer, the engine's Web
// Worker pool) needs:
//   Cross-Origin-Opener-Policy: same-origin, Cross-Origin-Embedder-Policy: require-corp.
// The built folder is plain files: any static host serves it, with those headers for threads.
// Read next: ../web/build.ts, ../web/playground.ts.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { extname, join, resolve, sep } from 'node:path';
import { helpText, parseFlags, UsageError, type FlagSpec } from './args.ts';

export const serveUsage = `usage: attngrad serve [--port N] [--host H]
  the playground (/) and the bench page (/bench.html) in your browser, built from web/ if missing`;

export const serveFlags = {
  port: { type: 'int', default: 8080, min: 0, help: 'the port (0: any free one)' },
  host: { type: 'string', default: '127.0.0.1', help: 'the address to listen on' },
  dir: { type: 'string', help: 'serve this built folder instead of web/dist (built if missing)' },
  rebuild: { type: 'bool', default: false, help: 'rebuild the bundle even if it is there' },
  help: { type: 'bool', default: false, help: 'show this help' },
} satisfies Record<string, FlagSpec>;

/** The headers every answer carries: cross-origin isolation, and no caching of a rebuilt bundle. */
export const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
};

/** What web/build.ts exports (loaded at run time: it and esbuild exist in a checkout only). */
interface WebBuild {
  buildWeb(outDir?: string): Promise<void>;
  isBuilt(outDir?: string): boolean;
  defaultOutDir: string;
}

async function webBuild(): Promise<WebBuild> {
  const source = new URL('../web/build.ts', import.meta.url);
  if (!existsSync(source))
    throw new UsageError('serve: the pages are built from web/, which only a checkout has');
  return (await import(source.href)) as WebBuild;
}

/**
 * A static server over `root`: GET and HEAD, the isolation headers, nothing outside root. Requests
 * wait for `ready` (the build), so the server listens at once.
 */
export function staticServer(root: string, ready: Promise<unknown> = Promise.resolve()): Server {
  const base = resolve(root);
  return createServer((req, res) => {
    ready.then(
      () => serveFile(base, req, res),
      (e: Error) => answerWith(req, res, 500, `the build failed: ${e.message}`),
    );
  });
}

function answerWith(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  text: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, { ...isolationHeaders, 'Content-Type': types['.txt'], ...extra });
  res.end(req.method === 'HEAD' ? undefined : `${text}\n`);
}

function serveFile(base: string, req: IncomingMessage, res: ServerResponse): void {
  const answer = (status: number, text: string, extra: Record<string, string> = {}) =>
    answerWith(req, res, status, text, extra);
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return answer(405, `${req.method} is not served (GET, HEAD)`, { Allow: 'GET, HEAD' });
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    return answer(400, 'a path that does not decode');
  }
  const file = resolve(base, `.${path.endsWith('/') ? `${path}index.html` : path}`);
  if (file !== base && !file.startsWith(base + sep)) return answer(403, 'outside the site');
  if (!existsSync(file) || !statSync(file).isFile()) return answer(404, `no ${path}`);
  const type = types[extname(file)] ?? 'application/octet-stream';
  res.writeHead(200, {
    ...isolationHeaders,
    'Content-Type': type,
    'Content-Length': statSync(file).size,
  });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(file).pipe(res);
}

/** Listen, print the address, build if needed; resolves with the server once it is built. */
export async function runServe(argv: string[]): Promise<Server | null> {
  const flags = parseFlags(argv, serveFlags);
  if (flags.help) {
    process.stdout.write(helpText(serveUsage, serveFlags));
    return null;
  }
  const build = await webBuild();
  const dir = resolve(String(flags.dir ?? build.defaultOutDir));
  const started = Date.now();
  const built =
    flags.rebuild || !build.isBuilt(dir)
      ? build.buildWeb(dir).then(() => {
          console.log(`built ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        })
      : Promise.resolve();
  const server = staticServer(dir, built);
  await new Promise<void>((done, fail) => {
    server.once('error', (e) => fail(new UsageError(`serve: ${(e as Error).message}`)));
    server.listen(Number(flags.port), String(flags.host), done);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : flags.port;
  const url = `http://${String(flags.host).includes(':') ? `[${flags.host}]` : flags.host}:${port}/`;
  console.log(`serving ${join(dir)} at ${url} (playground) and ${url}bench.html (bench)`);
  console.log('cross-origin isolated (COOP same-origin, COEP require-corp); Ctrl-C stops it');
  await built; // a failed build ends the command with its one line
  return server;
}
