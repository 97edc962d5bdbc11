// Rollup plugin: makes the compiled modules' `new URL('<path>.wasm', import.meta.url)` work in a
// bundle, whose files no longer sit where that relative path points (<package>/build/).
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

const WASM_URL = /new URL\(\s*(['"])([^'"]+\.wasm)\1\s*,\s*import\.meta\.url\s*\)/g;

/**
 * Rewrites the .wasm URLs. `inline: false` emits each .wasm beside the chunks and points at it
 * with `import.meta.ROLLUP_FILE_URL_<id>`. `inline: true` puts the bytes in a data: URL, so the
 * bundle needs no file beside it, which a page bundled again by another tool requires.
 */
export function wasmUrl({ inline }) {
  return {
    name: 'omninet-wasm-url',

    transform(code, id) {
      if (!code.includes('.wasm')) return null;
      let rewritten = 0;
      const out = code.replace(WASM_URL, (_match, _quote, relative) => {
        const file = resolve(dirname(id), relative);
        let bytes;
        try {
          bytes = readFileSync(file);
        } catch {
          this.error(`${file}, which ${id} loads, is missing: run \`npm run build:wasm\` first`);
        }
        this.addWatchFile(file);
        rewritten++;
        if (inline) return `new URL('data:application/wasm;base64,${bytes.toString('base64')}')`;
        const reference = this.emitFile({ type: 'asset', fileName: basename(file), source: bytes });
        return `new URL(import.meta.ROLLUP_FILE_URL_${reference})`;
      });
      return rewritten > 0 ? { code: out, map: null } : null;
    },

    // A .wasm path that escaped the rewrite (written another way) would point outside the package.
    renderChunk(code, chunk) {
      const stray = /(['"`])[^'"`\n]*\/[^'"`\n/]*\.wasm\1/.exec(code);
      if (stray) this.error(`${chunk.fileName} still refers to ${stray[0]}: write it as new URL('<path>.wasm', import.meta.url) so that the bundle carries the file`);
      return null;
    },
  };
}
