// Bundles the compiled TypeScript (dist/, from `npm run build:ts`) into what the package ships:
//   dist/bundle/   Node and Deno: index.js, worker.js, cli.js and shared chunks. `node:` imports
//                  stay external; the .wasm files and the embedded language model
//                  (kjv-char.safetensors) are emitted beside the chunks.
//   dist/browser/  Browsers: index.js with its chunks, and worker.js in one file that can be
//                  copied beside a page's own bundle. The .wasm files are inlined as data: URLs,
//                  the language model is emitted beside index.js, and Node-only imports become
//                  rejections (rollup/node-only.mjs).
// comlink is bundled in, so a page can import dist/browser/index.js without an import map.
// Chunks stay in the entries' folder: modules find worker.js, the .wasm and ../../package.json
// relative to themselves.
//
// package.json keeps "sideEffects": true. The kernel modules register themselves with
// registerKernel() when imported, so a consumer's bundler must keep every module it reaches even
// where no export is used.
import { chmodSync, rmSync } from 'node:fs';
import { nodeResolve } from '@rollup/plugin-node-resolve';
import { nodeOnly } from './rollup/node-only.mjs';
import { assetUrl } from './rollup/asset-url.mjs';

for (const dir of ['dist/bundle', 'dist/browser']) rmSync(dir, { recursive: true, force: true });

// npm marks a package's bin executable only when it installs it, so a rebuild in place (npm test,
// npm pack) would otherwise leave `npx omninet` failing with "Permission denied".
const executable = (fileName) => ({
  name: 'omninet-executable',
  writeBundle({ dir }) {
    chmodSync(`${dir}/${fileName}`, 0o755);
  },
});

const output = (dir, extra = {}) => ({ dir, format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js', ...extra });

export default [
  {
    input: { index: 'dist/index.js', worker: 'dist/runtime/worker.js', cli: 'bin/omninet.js' },
    output: output('dist/bundle'),
    external: (id) => id.startsWith('node:'),
    plugins: [nodeResolve(), assetUrl({ inlineWasm: false }), executable('cli.js')],
  },
  {
    input: { index: 'dist/index.js' },
    output: output('dist/browser'),
    plugins: [nodeOnly(), nodeResolve({ browser: true }), assetUrl({ inlineWasm: true })],
  },
  {
    input: { worker: 'dist/runtime/worker.js' },
    output: output('dist/browser', { inlineDynamicImports: true }),
    plugins: [nodeOnly(), nodeResolve({ browser: true }), assetUrl({ inlineWasm: true })],
  },
];
