import { DEFAULT_GPU_MIN_WORK, Dispatcher } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import { readSafetensors } from '../io/safetensors.js';
import { checkpointFromFile } from '../model/checkpoint.js';
import { readLanguageModelHead } from '../model/language-model/head.js';
import { describeRuntime } from '../runtime-info.js';
import { readInputFile } from './files.js';
import { packageVersion, type ParsedArgs } from './main.js';

/** `omninet info [MODEL]`: the runtime, WebAssembly features, backends and optionally a model's config. */
export async function runInfo({ positionals }: ParsedArgs): Promise<void> {
  if (positionals.length > 1) {
    throw new OmninetError('INVALID_ARGUMENT', `info takes at most one MODEL argument, got ${positionals.join(' ')}`);
  }
  const runtime = describeRuntime();
  const lines = [
    `omninet ${await packageVersion()}`,
    `runtime: ${runtime.runtime} (${process.platform} ${process.arch})`,
    `wasm: simd ${yesNo(runtime.wasmSimd)}, relaxed-simd ${yesNo(runtime.wasmRelaxedSimd)}, threads ${yesNo(runtime.wasmThreads)}`,
    `shared memory: SharedArrayBuffer ${yesNo(runtime.sharedArrayBuffer)}, cross-origin isolated ${yesNo(runtime.crossOriginIsolated)}`,
    `webgpu entry point: ${runtime.webgpuSource ?? 'none'}`,
  ];

  for (const backend of ['wasm', 'js', 'webgpu'] as const) {
    try {
      const dispatcher = await Dispatcher.create({ backend });
      lines.push(`backend ${backend}: available${describeThreads(dispatcher.primary)}`);
      dispatcher.dispose();
    } catch (error) {
      lines.push(`backend ${backend}: unavailable (${(error as Error).message})`);
    }
  }
  if (runtime.webgpuSource) lines.push(...(await describeWebGpu()));

  if (positionals.length === 1) {
    const [path] = positionals;
    const file = readSafetensors(await readInputFile(path, 'model'), { source: path, skip: (name) => name.endsWith('calls_since_last_redraw') });
    const { config, parameters } = checkpointFromFile(file, path);
    // The FAVOR+ projection matrices are fixed random features, not trained parameters.
    let count = 0;
    for (const [name, { data }] of parameters) if (!name.endsWith('projection_matrix')) count += data.length;
    lines.push(
      `model: ${path}`,
      `  variant ${config.variant}, dim ${config.dim}, depth ${config.depth}, heads ${config.heads}, dim_head ${config.dimHead}`,
      `  pool_layer_tokens_every ${config.poolLayerTokensEvery}, omni layers [${config.omniLayers.join(', ')}] pooling [${config.omniPoolSizes.join(', ')}]`,
      `  nb_features ${config.nbFeatures ?? 'none (softmax omni attention)'}, ff_mult ${config.ffMult}, layernorm_eps ${config.layernormEps}`,
      `  parameters ${count.toLocaleString('en-US')} (${(count * 4 / 2 ** 20).toFixed(2)} MiB as float32)`,
    );
    if (file.metadata.language_model !== undefined) {
      const head = readLanguageModelHead(file, config, path);
      const wrapper = [head.tokenEmbedding, head.positionEmbedding, head.normWeight, head.normBias, head.logitsWeight, head.logitsBias].reduce((sum, t) => sum + t.length, 0);
      lines.push(...describeLanguageModel(head.metadata), `  embeddings and head: ${wrapper.toLocaleString('en-US')} parameters (${(count + wrapper).toLocaleString('en-US')} in all)`);
    }
  }
  console.log(lines.join('\n'));
}

/** Returns the lines that describe a language model's `__metadata__.language_model`. */
function describeLanguageModel(metadata: Record<string, unknown>): string[] {
  const vocabulary = metadata.vocabulary as string[];
  const lines = [
    `language model: ${String(metadata.name ?? 'unnamed')}, max_seq_len ${String(metadata.max_seq_len)}, ${vocabulary.length} characters:`,
    `  ${JSON.stringify(vocabulary.join(''))}`,
  ];
  for (const key of ['corpus', 'licence']) {
    if (typeof metadata[key] === 'string') lines.push(`  ${key}: ${metadata[key] as string}`);
  }
  const training = metadata.training as Record<string, unknown> | undefined;
  if (training && typeof training === 'object') {
    const facts = ['steps', 'seconds', 'seed', 'train_bits_per_char', 'validation_bits_per_char_stored'].filter((key) => training[key] !== undefined);
    lines.push(`  training: ${facts.map((key) => `${key} ${String(training[key])}`).join(', ')}`);
  }
  return lines;
}

/** Returns the lines that describe the WebGPU adapter and the limits the kernels split work by. */
async function describeWebGpu(): Promise<string[]> {
  const { describeAdapter } = await import('../backends/webgpu/device.js');
  const { summary, reason } = await describeAdapter();
  if (!summary) return [`webgpu adapter: none (${reason})`];
  const { limits } = summary;
  return [
    `webgpu adapter: vendor ${summary.vendor || '?'}, architecture ${summary.architecture || '?'}, device ${summary.device || '?'}, description ${summary.description || '?'}`,
    summary.software
      ? "  software adapter: it runs on the CPU, so backend 'auto' prefers wasm; --backend webgpu still uses it"
      : `  hardware adapter: backend 'auto' runs ops of ${DEFAULT_GPU_MIN_WORK} multiply-adds or more on it`,
    `  limits: maxStorageBufferBindingSize ${formatBytes(limits.maxStorageBufferBindingSize)}, maxBufferSize ${formatBytes(limits.maxBufferSize)}, ` +
      `maxComputeWorkgroupStorageSize ${formatBytes(limits.maxComputeWorkgroupStorageSize)}, maxComputeWorkgroupsPerDimension ${limits.maxComputeWorkgroupsPerDimension}, ` +
      `maxComputeInvocationsPerWorkgroup ${limits.maxComputeInvocationsPerWorkgroup}`,
  ];
}

function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(bytes % 2 ** 30 ? 1 : 0)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(bytes % 2 ** 20 ? 1 : 0)} MiB`;
  return `${(bytes / 2 ** 10).toFixed(bytes % 2 ** 10 ? 1 : 0)} KiB`;
}

/** Returns ", N threads" for the wasm backend, with the reason when it runs one thread on a machine with more; else "". */
function describeThreads(backend: object): string {
  const { threads, threadsNote } = backend as { threads?: number; threadsNote?: string | null };
  if (threads === undefined) return '';
  return `, ${threads} thread${threads === 1 ? '' : 's'}${threadsNote ? ` (${threadsNote})` : ''}`;
}

function yesNo(value: boolean): string {
  return value ? 'yes' : 'no';
}
