/**
 * The embedded default language model: a character-level omninet-causal-omni model trained on the
 * King James Bible (models/README.md records how, and under which licence). Bundles carry the file
 * beside their chunks (rollup/asset-url.mjs).
 */
export const DEFAULT_LANGUAGE_MODEL = new URL('../../../models/kjv-char.safetensors', import.meta.url);
