// Rollup plugin: makes the compiled modules' `new URL('<path>.wasm' or '<path>.safetensors',
// import.meta.url)` work in a bundle, whose files no longer sit where that relative path points
// (<package>/build/ for the WebAssembly, <package>/models/ for the embedded language model).
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

const ASSET_URL = /new URL\(\s*(['"])([^'"]+\.(wasm|safetensors))\1\s*,\s*import\.meta\.url\s*\)/g;
const MEDIA_TYPES = { wasm: 'application/wasm' };

/**
 * Rewrites the asset URLs. Each file is emitted beside the chunks and pointed at with
 * `import.meta.ROLLUP_FILE_URL_<id>`, except that `inlineWasm: true` puts .wasm bytes in a data:
 * URL, so that a page bundled again by another tool needs no .wasm file beside it. The model is
 * never inlined: only programs that load it should download it.
 */
export function assetUrl({ inlineWasm }) {
  return {
    name: 'omninet-asset-url',

    transform(code, id) {
      if (!code.includes('.wasm') && !code.includes('.safetensors')) return null;
      let rewritten = 0;
      const out = code.replace(ASSET_URL, (_match, _quote, relative, extension) => {
        const file = resolve(dirname(id), relative);
        let bytes;
        try {
          bytes = readFileSync(file);
        } catch {
          const fix = extension === 'wasm' ? 'run `npm run build:wasm` first' : 'it is committed in git; restore it';
          this.error(`${file}, which ${id} loads, is missing: ${fix}`);
        }
        this.addWatchFile(file);
        rewritten++;
        if (inlineWasm && extension === 'wasm') return `new URL('data:${MEDIA_TYPES.wasm};base64,${bytes.toString('base64')}')`;
        const reference = this.emitFile({ type: 'asset', fileName: basename(file), source: bytes });
        return `new URL(import.meta.ROLLUP_FILE_URL_${reference})`;
      });
      return rewritten > 0 ? { code: out, map: null } : null;
    },

    // A path that escaped the rewrite (written another way) would point outside the package.
    renderChunk(code, chunk) {
      const stray = /(['"`])[^'"`\n]*\/[^'"`\n/]*\.(wasm|safetensors)\1/.exec(code);
      if (stray) this.error(`${chunk.fileName} still refers to ${stray[0]}: write it as new URL('<path>', import.meta.url) so that the bundle carries the file`);
      return null;
    },
  };
}
