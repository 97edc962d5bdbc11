// Bundles the compiled TypeScript (dist/) into ESM entry points under dist/bundle/.
// Run after `npm run build`. Node built-ins stay external; the backends load lazily, so each
// becomes its own chunk.
// TODO: emit the .wasm as an asset found relative to the bundle and add the Worker entry.
import { nodeResolve } from '@rollup/plugin-node-resolve';

export default {
  input: {
    index: 'dist/index.js',
    cli: 'dist/cli/main.js',
  },
  output: {
    dir: 'dist/bundle',
    format: 'es',
    entryFileNames: '[name].js',
    sourcemap: true,
  },
  external: (id) => id.startsWith('node:'),
  plugins: [nodeResolve()],
};
