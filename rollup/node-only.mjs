// Rollup plugin for the browser build: Node-only imports become rejected promises, so a page's
// bundle carries no `node:` specifier, no native package and no Node adapter. The library reaches
// them only through import() on paths a browser never takes (file paths, worker_threads, Dawn).

const NODE_ONLY = [/^node:/, /^comlink\/dist\/esm\/node-adapter\.mjs$/];

const isNodeOnly = (id) => NODE_ONLY.some((pattern) => pattern.test(id));

export function nodeOnly() {
  return {
    name: 'omninet-node-only',

    // A string naming a Node-only module, or an expression (the optional `webgpu` package is
    // imported through a variable): keep it out of the module graph.
    resolveDynamicImport(specifier) {
      if (typeof specifier !== 'string') return false;
      return isNodeOnly(specifier) ? false : null;
    },

    resolveId(source, importer) {
      if (isNodeOnly(source)) this.error(`${importer} imports the Node-only "${source}" statically: import it with import() on a path that runs only in Node`);
      return null;
    },

    // targetModuleId is null for an import() of an expression.
    renderDynamicImport({ targetModuleId }) {
      if (targetModuleId !== null && !isNodeOnly(targetModuleId)) return null;
      return {
        left: '((specifier) => Promise.reject(new Error(`${specifier} is not available in the browser build of omninet`)))(',
        right: ')',
      };
    },
  };
}
