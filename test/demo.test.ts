// Drives the browser demo (demo/index.html, served by demo/serve.mjs) in headless Chromium:
// generation on each backend the page offers, reproducible seeds, and the errors it shows.
// It uses the browser build in dist/browser (`npm run build:ts && npm run bundle`).
// Screenshots go to a temporary folder whose path the test prints.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium as playwrightChromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_PATH, hasChromium, launchChromium } from './helpers/chromium.js';
import { ROOT } from './helpers/packed-project.js';

const inCi = process.env.CI === 'true';
const BROWSER_BUILD = join(ROOT, 'dist/browser/index.js');
const BACKENDS = ['auto', 'webgpu', 'wasm'] as const;

const PROMPT = 'And God said';
const MAX_TOKENS = 50;
const SEED = 20_240_611;

// Generation on SwiftShader WebGPU runs at a few tokens per second on a slow machine.
const RUN_TIMEOUT_MS = 100_000;

interface DemoServer {
  url: string;
  process: ChildProcess;
}

interface RunOutcome {
  state: string;
  output: string;
  generated: string;
  backend: string;
  tokens: string;
  tokensPerSecond: number;
  status: string;
  error: string | null;
}

/** Starts `node demo/serve.mjs --port 0` and resolves with the demo URL that it prints. */
function startDemoServer(): Promise<DemoServer> {
  const child = spawn(process.execPath, [join(ROOT, 'demo/serve.mjs'), '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`demo/serve.mjs printed no URL within 20 s (stdout: ${stdout}, stderr: ${stderr})`)), 20_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill();
      reject(error);
    };

    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const url = /omninet demo: (http:\/\/127\.0\.0\.1:\d+\/demo\/)/.exec(stdout)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ url, process: child });
      }
    });
    child.on('exit', (code) => fail(new Error(`demo/serve.mjs exited with code ${code} before printing its URL (stderr: ${stderr})`)));
  });
}

/** Starts headless Chromium without --enable-unsafe-webgpu: navigator.gpu exists but returns no adapter. */
async function launchChromiumWithoutWebGpu(): Promise<Browser> {
  return playwrightChromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Opens the demo and waits until the preload of the default backend has finished. */
async function openDemo(context: BrowserContext | Browser, url: string, pageErrors: string[]): Promise<Page> {
  const page = await context.newPage();
  await page.setViewportSize({ width: 1000, height: 900 });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(url);
  await page.waitForFunction(() => ['ready', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 60_000 });
  return page;
}

interface RunSettings {
  backend: string;
  prompt?: string;
  seed?: number;
  maxTokens?: number;
  replaceUnknown?: boolean;
}

/** Fills the form and clicks Generate, which starts the run before the click returns. */
async function startRun(page: Page, settings: RunSettings): Promise<void> {
  await page.selectOption('#backend', settings.backend);
  await page.fill('#prompt', settings.prompt ?? PROMPT);
  await page.fill('#max-tokens', String(settings.maxTokens ?? MAX_TOKENS));
  await page.fill('#seed', settings.seed === undefined ? '' : String(settings.seed));
  await page.setChecked('#replace-unknown', settings.replaceUnknown ?? false);
  await page.click('#generate');
}

/** Waits until the run has ended (done, stopped or error) and reads the page. */
async function finishRun(page: Page): Promise<RunOutcome> {
  await page.waitForFunction(
    () => ['done', 'stopped', 'error'].includes(document.body.dataset.state ?? '') && !(document.getElementById('generate') as HTMLButtonElement).disabled,
    null,
    { timeout: RUN_TIMEOUT_MS },
  );

  const errorVisible = await page.isVisible('#error');
  return {
    state: await page.evaluate(() => document.body.dataset.state ?? ''),
    output: (await page.textContent('#output')) ?? '',
    generated: (await page.textContent('#output-generated')) ?? '',
    backend: (await page.textContent('#stat-backend')) ?? '',
    tokens: (await page.textContent('#stat-tokens')) ?? '',
    tokensPerSecond: Number(await page.textContent('#stat-speed')),
    status: (await page.textContent('#status')) ?? '',
    error: errorVisible ? await page.textContent('#error') : null,
  };
}

async function generate(page: Page, settings: RunSettings): Promise<RunOutcome> {
  await startRun(page, settings);
  return finishRun(page);
}

/** Waits until the page shows at least `count` generated characters while still generating. */
async function waitForGenerated(page: Page, count: number): Promise<void> {
  await page.waitForFunction(
    (least) => document.body.dataset.state === 'generating' && [...(document.getElementById('output-generated')?.textContent ?? '')].length >= least,
    count,
    { timeout: RUN_TIMEOUT_MS },
  );
}

describe.skipIf(!hasChromium && !inCi)('browser demo', () => {
  let server: DemoServer;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  const screenshotDir = mkdtempSync(join(tmpdir(), 'omninet-demo-screenshots-'));

  beforeAll(async () => {
    if (!hasChromium) throw new Error(`CI=true but ${CHROMIUM_PATH} is missing: .ci/run installs it (apt-get install chromium)`);
    if (!existsSync(BROWSER_BUILD)) throw new Error(`${BROWSER_BUILD} is missing: run \`npm run build:ts && npm run bundle\` first`);

    server = await startDemoServer();
    chromium = await launchChromium();
    console.log(`demo at ${server.url}; screenshots in ${screenshotDir}`);
  });

  afterAll(async () => {
    await chromium?.close();
    server?.process.kill();
  });

  it('offers auto, webgpu and wasm', async () => {
    const pageErrors: string[] = [];
    const page = await openDemo(chromium.context, server.url, pageErrors);
    try {
      const options = await page.$$eval('#backend option', (elements) => elements.map((option) => (option as HTMLOptionElement).value));
      expect(options).toEqual([...BACKENDS]);
      expect(await page.evaluate(() => document.body.dataset.state)).toBe('ready');
      expect(await page.isVisible('#error')).toBe(false);
      expect(pageErrors).toEqual([]);

      // The settings wrap into fewer columns on a phone-sized screen.
      await page.setViewportSize({ width: 400, height: 900 });
      await page.screenshot({ path: join(screenshotDir, 'ready-narrow.png'), fullPage: true });
      const box = await page.locator('#form').boundingBox();
      expect(box!.x + box!.width).toBeLessThanOrEqual(400);
    } finally {
      await page.close();
    }
  });

  it.each(BACKENDS)('generates 50 tokens on %s', async (backend) => {
    const pageErrors: string[] = [];
    const page = await openDemo(chromium.context, server.url, pageErrors);
    try {
      await startRun(page, { backend, seed: SEED });

      // Only SwiftShader is slow enough to catch the page mid-run, because wasm often finishes first.
      if (backend === 'webgpu') {
        await waitForGenerated(page, 10);
        await page.screenshot({ path: join(screenshotDir, 'generating-webgpu.png'), fullPage: true });
        expect(await page.textContent('#stat-tokens')).toMatch(/^\d+ \/ 50$/);
        expect(await page.textContent('#stat-backend')).toBe('webgpu');
        expect(await page.isEnabled('#stop')).toBe(true);
      }

      const outcome = await finishRun(page);
      await page.screenshot({ path: join(screenshotDir, `generate-${backend}.png`), fullPage: true });
      console.log(`${backend}: ran on ${outcome.backend} at ${outcome.tokensPerSecond} tokens/s (headless Chromium, WebGPU on SwiftShader)`);

      expect(outcome.error).toBeNull();
      expect(outcome.state).toBe('done');
      expect([...outcome.generated]).toHaveLength(MAX_TOKENS);
      expect(outcome.output).toBe(PROMPT + outcome.generated);
      expect(outcome.tokens).toBe(String(MAX_TOKENS));
      expect(outcome.tokensPerSecond).toBeGreaterThan(0);
      if (backend === 'auto') expect(['wasm', 'webgpu']).toContain(outcome.backend);
      else expect(outcome.backend).toBe(backend);
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('repeats a seed exactly on wasm', async () => {
    const pageErrors: string[] = [];
    const page = await openDemo(chromium.context, server.url, pageErrors);
    try {
      const first = await generate(page, { backend: 'wasm', seed: SEED });
      const second = await generate(page, { backend: 'wasm', seed: SEED });
      const other = await generate(page, { backend: 'wasm', seed: SEED + 1 });

      expect(first.state).toBe('done');
      expect(second.state).toBe('done');
      expect(second.output).toBe(first.output);
      expect([...other.generated]).toHaveLength(MAX_TOKENS);
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('shows an error for an unknown prompt character', async () => {
    const pageErrors: string[] = [];
    const page = await openDemo(chromium.context, server.url, pageErrors);
    try {
      const outcome = await generate(page, { backend: 'wasm', prompt: 'And God said™', seed: SEED });
      await page.screenshot({ path: join(screenshotDir, 'unknown-character.png'), fullPage: true });

      expect(outcome.state).toBe('error');
      expect(outcome.error).toContain('"™"');
      expect(outcome.error).toContain("not in the model's vocabulary");
      expect(outcome.generated).toBe('');
      expect(await page.getAttribute('#prompt', 'aria-invalid')).toBe('true');
    } finally {
      await page.close();
    }
  });

  it('replaces unknown characters when asked', async () => {
    const pageErrors: string[] = [];
    const page = await openDemo(chromium.context, server.url, pageErrors);
    try {
      const prompt = 'And God said™';
      const outcome = await generate(page, { backend: 'wasm', prompt, seed: SEED, replaceUnknown: true });

      expect(outcome.error).toBeNull();
      expect(outcome.state).toBe('done');
      // The page shows the prompt as the model read it: the unknown character became a space.
      expect(outcome.output).toBe('And God said ' + outcome.generated);
      expect([...outcome.generated]).toHaveLength(MAX_TOKENS);
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('stops a run with the Stop button', async () => {
    const pageErrors: string[] = [];
    const page = await openDemo(chromium.context, server.url, pageErrors);
    try {
      const maxTokens = 5_000;
      await startRun(page, { backend: 'wasm', seed: SEED, maxTokens });
      await waitForGenerated(page, 20);
      await page.click('#stop');
      const outcome = await finishRun(page);

      expect(outcome.state).toBe('stopped');
      expect(outcome.error).toBeNull();
      expect(outcome.status).toMatch(/^Stopped after \d+ tokens\.$/);
      expect([...outcome.generated].length).toBeGreaterThanOrEqual(20);
      expect([...outcome.generated].length).toBeLessThan(maxTokens);
      expect(pageErrors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it('shows an error for webgpu without an adapter', async () => {
    const browser = await launchChromiumWithoutWebGpu();
    const pageErrors: string[] = [];
    try {
      const page = await openDemo(browser, server.url, pageErrors);
      const outcome = await generate(page, { backend: 'webgpu', seed: SEED });
      await page.screenshot({ path: join(screenshotDir, 'webgpu-unavailable.png'), fullPage: true });

      expect(outcome.state).toBe('error');
      expect(outcome.error).toMatch(/backend "webgpu" is unavailable/);
      expect(outcome.generated).toBe('');

      // The page stays usable: wasm still generates in this browser.
      const wasm = await generate(page, { backend: 'wasm', seed: SEED, maxTokens: 10 });
      expect(wasm.error).toBeNull();
      expect(wasm.state).toBe('done');
      expect(wasm.backend).toBe('wasm');
    } finally {
      await browser.close();
    }
  });
});
