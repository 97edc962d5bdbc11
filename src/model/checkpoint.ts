import { OmninetError } from '../errors.js';
import { readSafetensors, type SafetensorsFile } from '../io/safetensors.js';
import { checkDepth, configFromMetadata, resolveConfig, VARIANTS, type OmninetConfig, type OmninetOptions, type Variant } from './config.js';
import { LANGUAGE_MODEL_TENSORS } from './language-model/head.js';
import { expectedParameters } from './parameters.js';

export type ParameterMap = Map<string, { shape: number[]; data: Float32Array }>;

/** Options that stand in for `__metadata__.config` when a checkpoint has none. */
export type CheckpointConfigOptions = Partial<OmninetOptions>;

/**
 * Reads a safetensors checkpoint: the config from `__metadata__.config` (or inferred from the
 * tensors plus `options`), then every parameter checked against that config by name and shape.
 */
export function readCheckpoint(
  bytes: Uint8Array,
  source: string,
  options: CheckpointConfigOptions = {},
  checks: CheckpointChecks = {},
): { config: OmninetConfig; parameters: ParameterMap } {
  // performer-pytorch's redraw counter is an int64 buffer, not a weight.
  const file = readSafetensors(bytes, { source, skip: (name) => name.endsWith('calls_since_last_redraw') });
  return checkpointFromFile(file, source, options, checks);
}

/**
 * readCheckpoint on a file already parsed. A language model's embeddings and head (named by
 * `__metadata__.language_model`) are left out: the OmniNet layers are the model here.
 */
export function checkpointFromFile(
  file: SafetensorsFile,
  source: string,
  options: CheckpointConfigOptions = {},
  checks: CheckpointChecks = {},
): { config: OmninetConfig; parameters: ParameterMap } {
  if (file.metadata.language_model !== undefined) {
    file = { ...file, tensors: new Map([...file.tensors].filter(([name]) => !(LANGUAGE_MODEL_TENSORS as readonly string[]).includes(name))) };
  }
  let config: OmninetConfig;
  if (file.metadata.config !== undefined) {
    config = configFromMetadata(file.metadata.config, source);
    checkOverrides(config, options, source);
  } else {
    config = inferConfig(file, source, options);
  }
  const parameters = checkParameters(file, config, source);
  if (!checks.allowNonFinite) checkWeightsFinite(parameters, source);
  return { config, parameters };
}

export interface CheckpointChecks {
  /** Load weights that hold NaN or infinity instead of refusing them. Default false. */
  allowNonFinite?: boolean;
}

/** @throws OmninetError `NON_FINITE` naming the first tensor and flat index that is NaN or infinite. */
export function checkWeightsFinite(parameters: ParameterMap, source: string): void {
  for (const [name, { shape, data }] of parameters) {
    for (let i = 0; i < data.length; i++) {
      if (Number.isFinite(data[i])) continue;
      throw new OmninetError(
        'NON_FINITE',
        `${source}: weight "${name}" [${shape.join(', ')}] holds ${data[i]} at flat index ${i}; fix the checkpoint, or pass allowNonFinite: true to load it anyway`,
      );
    }
  }
}

/** Rejects config options that contradict the checkpoint's own `__metadata__.config`. */
function checkOverrides(config: OmninetConfig, options: CheckpointConfigOptions, source: string): void {
  for (const [key, value] of Object.entries(options)) {
    const stored = config[key as keyof OmninetConfig];
    if (value !== undefined && stored !== undefined && value !== stored) {
      throw new OmninetError(
        'INVALID_ARGUMENT',
        `config option ${key}: ${JSON.stringify(value)} contradicts ${source}'s __metadata__.config (${JSON.stringify(stored)}); drop the option`,
      );
    }
  }
}

/** Matches the file's tensors against the config: no missing, extra or mis-shaped tensor. */
export function checkParameters(file: SafetensorsFile, config: OmninetConfig, source: string): ParameterMap {
  const expected = expectedParameters(config);
  const parameters: ParameterMap = new Map();
  const describe = `${config.variant} (dim ${config.dim}, depth ${config.depth}, heads ${config.heads}, dim_head ${config.dimHead})`;

  for (const [name, shape] of expected) {
    const tensor = file.tensors.get(name);
    if (!tensor) {
      throw new OmninetError('SHAPE_MISMATCH', `${source}: missing tensor "${name}" of shape [${shape.join(', ')}] required by ${describe}`);
    }
    if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
      throw new OmninetError(
        'SHAPE_MISMATCH',
        `${source}: tensor "${name}" has shape [${tensor.shape.join(', ')}] but ${describe} expects [${shape.join(', ')}]`,
      );
    }
    if (!(tensor.data instanceof Float32Array)) {
      throw new OmninetError('INVALID_CHECKPOINT', `${source}: tensor "${name}" has dtype ${tensor.dtype}; weights must be F32, F16 or BF16`);
    }
    parameters.set(name, { shape: [...tensor.shape], data: tensor.data });
  }

  for (const name of file.tensors.keys()) {
    if (name.startsWith('__') || expected.has(name)) continue;
    throw new OmninetError('SHAPE_MISMATCH', `${source}: unexpected tensor "${name}" for ${describe}; check the variant and pool_layer_tokens_every`);
  }
  return parameters;
}

/** Infers a config from tensor shapes when the checkpoint has no `__metadata__.config`. */
function inferConfig(file: SafetensorsFile, source: string, options: CheckpointConfigOptions): OmninetConfig {
  const shapeOf = (name: string): number[] | undefined => file.tensors.get(name)?.shape;
  const missing = (what: string): OmninetError =>
    new OmninetError('INVALID_CHECKPOINT', `${source}: no __metadata__.config and ${what}; pass it in the config options`);

  const norm = shapeOf('layers.0.0.norm.weight');
  const qkv = shapeOf('layers.0.0.fn.to_qkv.weight');
  const ff = shapeOf('layers.0.1.fn.net.0.weight');
  if (!norm || !qkv || !ff) throw missing('no layers.0 tensors to read dim from (is this an omninet checkpoint?)');
  const dim = options.dim ?? norm[0];

  let depth = 0;
  const omniLayers: number[] = [];
  for (const name of file.tensors.keys()) {
    const match = /^layers\.(\d+)\.(\d)\./.exec(name);
    if (!match) continue;
    depth = Math.max(depth, Number(match[1]) + 1);
    if (match[2] === '2' && !omniLayers.includes(Number(match[1]))) omniLayers.push(Number(match[1]));
  }
  omniLayers.sort((a, b) => a - b);
  depth = options.depth ?? depth;
  // The pool schedule search below costs depth² steps, so a hostile layer index must stop here.
  checkDepth(depth);

  // heads·dimHead is fixed by to_qkv; splitting it needs one of the two, or the projection matrix.
  const inner = qkv[0] / 3;
  const projection = omniLayers.length > 0 ? shapeOf(`layers.${omniLayers[0]}.2.fast_attention.projection_matrix`) : undefined;
  let heads = options.heads;
  let dimHead = options.dimHead ?? projection?.[1];
  if (heads === undefined && dimHead !== undefined) heads = inner / dimHead;
  if (dimHead === undefined && heads !== undefined) dimHead = inner / heads;
  if (heads === undefined || dimHead === undefined) throw missing(`to_qkv fixes heads·dim_head = ${inner} but not the split (no heads or dimHead given)`);

  const variant = options.variant ?? inferVariant(file, omniLayers, depth, source);
  const poolLayerTokensEvery = options.poolLayerTokensEvery ?? inferPoolEvery(variant, omniLayers, depth);
  if (poolLayerTokensEvery === undefined) throw missing(`the omni layers [${omniLayers.join(', ')}] do not determine pool_layer_tokens_every`);

  return resolveConfig({
    variant,
    dim,
    depth,
    heads,
    dimHead,
    poolLayerTokensEvery,
    nbFeatures: options.nbFeatures ?? projection?.[0] ?? null,
    ffMult: options.ffMult ?? ff[0] / dim,
    layernormEps: options.layernormEps,
  });
}

function inferVariant(file: SafetensorsFile, omniLayers: number[], depth: number, source: string): Variant {
  if (file.tensors.has('layer_pos_emb')) return 'omninet-causal-axial';
  const candidates = (['omninet', 'omninet-causal-omni'] as const).filter((v) => inferPoolEvery(v, omniLayers, depth) !== undefined);
  if (candidates.length === 1) return candidates[0];
  throw new OmninetError(
    'INVALID_CHECKPOINT',
    `${source}: no __metadata__.config and the tensors fit ${candidates.length ? candidates.join(' and ') : 'no variant'}; pass variant (one of ${VARIANTS.join(', ')})`,
  );
}

/** Returns the P whose schedule yields exactly these omni layers, or undefined. */
function inferPoolEvery(variant: Variant, omniLayers: number[], depth: number): number | undefined {
  for (let p = 1; p <= depth + 1; p++) {
    const layers: number[] = [];
    for (let i = 0; i < depth; i++) {
      const pools = variant === 'omninet-causal-omni' ? (i + 1) % p === 0 : (i + 1) % p !== 0;
      if (pools) layers.push(i);
    }
    if (layers.length === omniLayers.length && layers.every((l, i) => l === omniLayers[i])) return p;
  }
  return undefined;
}
