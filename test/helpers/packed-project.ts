import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface PackedProject {
  /** A fresh npm project with the packed omninet installed in node_modules. */
  dir: string;
  /** Paths inside the tarball, without the leading package/. */
  files: string[];
  remove(): void;
}

/**
 * Packs the package as `npm publish` would, from the existing build (no scripts run: `npm test`
 * has just built it), and installs the tarball into a new project in a temporary folder.
 */
export function installPackedPackage(): PackedProject {
  assertBuildExists();
  const work = mkdtempSync(join(tmpdir(), 'omninet-package-'));
  const tarball = join(work, run('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', work], { cwd: ROOT }).trim().split('\n').at(-1)!);
  const files = run('tar', ['-tzf', tarball], {}).trim().split('\n').map((path) => path.replace(/^package\//, ''));

  const dir = join(work, 'project');
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'omninet-package-test', private: true, type: 'module' }));
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: dir });
  return { dir, files, remove: () => rmSync(work, { recursive: true, force: true }) };
}

/** Runs a command and returns its stdout; raises with its stderr when it fails. */
export function run(command: string, args: string[], options: SpawnSyncOptions): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (${result.error?.message ?? `exit code ${result.status}`}):\n${result.stderr}${result.stdout}`);
  }
  return String(result.stdout);
}

/** Raises when the build that the tarball ships is missing. */
function assertBuildExists(): void {
  const missing = ['dist/index.d.ts', 'dist/bundle/index.js', 'dist/browser/worker.js'].filter((path) => !existsSync(join(ROOT, path)));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run \`npm run build\` (npm test does) before this test`);
}
