// Packs omninet as npm would publish it, installs the tarball into a fresh project, and runs the
// golden fixture omninet-01 from that install. Node and Deno run it in the thread and in a Worker.
// Chromium runs it from a page that imports dist/browser through an import map and from a page
// bundled by Rollup, each in the page and in a Worker, on WASM and on WebGPU.
// Packing runs no scripts: it uses the build that `npm test` has just made.

import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { rollup } from 'rollup';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasChromium, launchChromium } from './helpers/chromium.js';
import { FIXTURE_DIR } from './helpers/fixtures.js';
import { installPackedPackage, ROOT, run, type PackedProject } from './helpers/packed-project.js';
import { startStaticServer } from './helpers/static-server.js';

const FIXTURE = 'omninet-01.safetensors';
const DENO = join(ROOT, 'node_modules/.bin/deno');
const inCi = process.env.CI === 'true';

interface CaseResult {
  place: 'thread' | 'worker';
  backend: string;
  error?: string;
  code?: string | null;
  backendUsed?: string;
  length?: number;
  expectedLength?: number;
  maxAbs?: number;
  failures?: number;
  inputDetached?: boolean;
  progress?: { bytesRead: number; bytesTotal: number | null; tensorsUploaded: number; tensorsTotal: number } | null;
  workerRuntime?: { inWorker: boolean };
  ms: number;
}

interface Report {
  runtime: { runtime: string; platform: string; crossOriginIsolated: boolean; sharedArrayBuffer: boolean; webgpu: boolean };
  results: CaseResult[];
}

let project: PackedProject;

beforeAll(() => {
  const started = performance.now();
  project = installPackedPackage();
  for (const file of ['checks.js', 'node-check.mjs', 'deno-check.ts', 'deno-generate.ts', 'page-main.js', 'page.html', 'bundled.html']) {
    copyFileSync(join(ROOT, 'test/package', file), join(project.dir, file));
  }
  copyFileSync(join(FIXTURE_DIR, FIXTURE), join(project.dir, FIXTURE));
  console.log(`packed and installed in ${((performance.now() - started) / 1000).toFixed(1)} s: ${project.dir}`);
});

afterAll(() => project?.remove());

/** Asserts that one case ran on its backend and matched the fixture. */
function expectMatch(result: CaseResult, where: string): void {
  const label = `${where}, ${result.place}, ${result.backend}`;
  expect(result.error, label).toBeUndefined();
  expect(result.backendUsed, label).toBe(result.backend);
  expect(result.length, label).toBe(result.expectedLength);
  expect(result.failures, `${label}: max abs error ${result.maxAbs}`).toBe(0);
  if (result.place === 'worker') {
    expect(result.workerRuntime?.inWorker, label).toBe(true);
    expect(result.inputDetached, `${label}: the input is transferred`).toBe(true);
    expect(result.progress, label).toMatchObject({ bytesRead: result.progress?.bytesTotal, tensorsUploaded: result.progress?.tensorsTotal });
    expect(result.progress?.tensorsTotal, label).toBeGreaterThan(0);
  }
  console.log(`${label}: max abs error ${result.maxAbs?.toExponential(2)} (${result.ms} ms)`);
}

function parseReport(stdout: string): Report {
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Report;
}

describe('the packed package', () => {
  it('ships bundles, wasm and types only', () => {
    for (const path of ['dist/bundle/index.js', 'dist/bundle/worker.js', 'dist/bundle/cli.js', 'dist/bundle/omninet-simd.wasm', 'dist/bundle/kjv-char.safetensors', 'dist/browser/index.js', 'dist/browser/kjv-char.safetensors', 'dist/browser/worker.js', 'dist/index.d.ts', 'dist/runtime/client.d.ts']) {
      expect(project.files).toContain(path);
    }
    expect(project.files.filter((path) => /^(src|test|assembly|bin)\/|^dist\/(?!bundle\/|browser\/).*\.js$/.test(path))).toEqual([]);

    // A page's bundler must meet no Node-only import in the browser build.
    for (const path of project.files.filter((p) => p.startsWith('dist/browser/'))) {
      const code = readFileSync(join(project.dir, 'node_modules/omninet', path), 'utf8');
      expect(code, path).not.toMatch(/\bimport\s*\(\s*(?!['"]\.\/)/);
      expect(code, path).not.toMatch(/\bfrom\s*['"](?!\.\/)/);
    }
  });

  it('runs the omninet command', () => {
    const out = run(process.execPath, [join(project.dir, 'node_modules/.bin/omninet'), 'info'], { cwd: project.dir });
    expect(out).toMatch(/^omninet 0\.\d+\.\d+/);
    expect(out).toMatch(/backend wasm: available/);
    expect(out).toMatch(/shared memory: SharedArrayBuffer yes, cross-origin isolated yes/);
  });

  it('generates text from the omninet command', () => {
    const out = run(process.execPath, [join(project.dir, 'node_modules/.bin/omninet'), 'generate', '--seed', '1', '--max-tokens', '30', '--backend', 'wasm'], { cwd: project.dir });
    expect(out.startsWith('And God said')).toBe(true);
    expect(out.trimEnd()).toHaveLength('And God said'.length + 30);
  });

  it('generates text in Deno', () => {
    const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' };
    const out = run(DENO, ['run', '--allow-read', 'deno-generate.ts'], { cwd: project.dir, env });
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as { thread: string; worker: string; backend: string };
    expect(report.thread).toHaveLength(30);
    expect(report.worker).toBe(report.thread);
    expect(report.backend).toBe('wasm');
  });

  it('matches the fixture in Node', () => {
    const report = parseReport(run(process.execPath, ['node-check.mjs', FIXTURE], { cwd: project.dir }));
    expect(report.runtime.platform).toBe('node');
    expect(report.results.map((r) => r.place)).toEqual(['thread', 'worker']);
    for (const result of report.results) expectMatch(result, report.runtime.runtime);
  });

  it('matches the fixture in Deno', () => {
    const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' };
    run(DENO, ['check', 'deno-check.ts'], { cwd: project.dir, env });
    const report = parseReport(run(DENO, ['run', '--allow-read', 'deno-check.ts', FIXTURE], { cwd: project.dir, env }));
    expect(report.runtime.platform).toBe('deno');
    expect(report.results.map((r) => r.place)).toEqual(['thread', 'worker']);
    for (const result of report.results) expectMatch(result, report.runtime.runtime);
  });
});

describe.skipIf(!hasChromium && !inCi)('the packed package in Chromium', () => {
  let chromium: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    if (!hasChromium) throw new Error('CI=true but /usr/bin/chromium is missing: .ci/run installs it (apt-get install chromium)');

    // The README's steps for bundler users: resolve with the browser condition, copy worker.js beside the bundle.
    const bundle = await rollup({ input: join(project.dir, 'page-main.js'), plugins: [nodeResolve({ browser: true })] });
    await bundle.write({ dir: join(project.dir, 'public'), format: 'es' });
    await bundle.close();
    copyFileSync(join(project.dir, 'node_modules/omninet/dist/browser/worker.js'), join(project.dir, 'public/worker.js'));

    chromium = await launchChromium();
  });

  afterAll(() => chromium?.close());

  // The plain page is served without cross-origin isolation, the bundled one with it.
  it.each([
    ['page.html', 'an import map, no bundler', false],
    ['bundled.html', 'a Rollup bundle', true],
  ] as const)('matches the fixture from %s (%s)', async (page, _how, isolated) => {
    const server = await startStaticServer(project.dir, { isolated });
    const tab = await chromium.context.newPage();
    const problems: string[] = [];
    tab.on('pageerror', (error) => problems.push(error.message));
    try {
      await tab.goto(server.url + page);
      await tab.waitForFunction(() => (window as { omninetReport?: unknown }).omninetReport !== undefined, null, { timeout: 60_000 }).catch(() => {
        throw new Error(`${page} published no report; page errors: ${problems.join('; ') || 'none'}`);
      });
      const report = (await tab.evaluate(() => (window as unknown as { omninetReport: Promise<unknown> }).omninetReport)) as Report & { error?: string };
      expect(report.error, page).toBeUndefined();

      expect(report.runtime.crossOriginIsolated, page).toBe(isolated);
      expect(report.runtime.sharedArrayBuffer, page).toBe(isolated);
      expect(report.runtime.webgpu, `${page}: navigator.gpu (--enable-unsafe-webgpu)`).toBe(true);
      expect(report.results.map((r) => `${r.place} ${r.backend}`)).toEqual(['thread wasm', 'thread webgpu', 'worker wasm', 'worker webgpu']);
      for (const result of report.results) expectMatch(result, `chromium ${page}`);
    } finally {
      await tab.close();
      await server.close();
    }
  });
});
