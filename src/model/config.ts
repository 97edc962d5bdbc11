import { OmninetError } from '../errors.js';
import { nestsDeeperThan } from '../io/safetensors.js';

export type Variant = 'omninet' | 'omninet-causal-axial' | 'omninet-causal-omni';

export const VARIANTS: readonly Variant[] = ['omninet', 'omninet-causal-axial', 'omninet-causal-omni'];

/** A complete, validated model configuration. */
export interface OmninetConfig {
  variant: Variant;
  dim: number;
  depth: number;
  heads: number;
  dimHead: number;
  poolLayerTokensEvery: number;
  /** 0-based indices of the layers that have omni attention. */
  omniLayers: number[];
  /** Number of hidden states pooled at each entry of `omniLayers`. */
  omniPoolSizes: number[];
  /** Rows of the FAVOR+ projection matrix; null for `omninet-causal-axial` (softmax omni attention). */
  nbFeatures: number | null;
  ffMult: number;
  layernormEps: number;
}

/** Options in the reference's spelling (camelCase); every field but dim and depth has a default. */
export interface OmninetOptions {
  variant?: Variant;
  dim: number;
  depth: number;
  heads?: number;
  dimHead?: number;
  poolLayerTokensEvery?: number;
  nbFeatures?: number | null;
  ffMult?: number;
  layernormEps?: number;
  /** Accepted for parity with omninet-pytorch; inference never drops anything. */
  attnDropout?: number;
  ffDropout?: number;
}

/** Returns the omni layer schedule of a variant: which layers pool and how many hiddens each pools. */
export function omniSchedule(variant: Variant, depth: number, poolEvery: number): { layers: number[]; poolSizes: number[] } {
  const layers: number[] = [];
  const poolSizes: number[] = [];
  for (let i = 0; i < depth; i++) {
    if (variant === 'omninet-causal-omni') {
      // The schedule of the OmniNet paper (Tay et al. 2021): every P-th layer attends over the last P hiddens.
      if ((i + 1) % poolEvery === 0) {
        layers.push(i);
        poolSizes.push(poolEvery);
      }
    } else if ((i + 1) % poolEvery !== 0) {
      // omninet-pytorch: every layer whose 1-based index is not a multiple of P, over min(P, i+2) hiddens.
      layers.push(i);
      poolSizes.push(Math.min(poolEvery, i + 2));
    }
  }
  return { layers, poolSizes };
}

/**
 * Largest depth a config may have. Schedules and parameter lists are built per layer before any
 * weight is read, so the bound keeps a hostile config from costing time and memory up front.
 */
export const MAX_DEPTH = 4096;

/** @throws OmninetError `LIMIT_EXCEEDED` when `depth` is over `MAX_DEPTH`. */
export function checkDepth(depth: number): void {
  if (depth > MAX_DEPTH) {
    throw new OmninetError('LIMIT_EXCEEDED', `depth ${depth} exceeds the limit of ${MAX_DEPTH} layers`);
  }
}

/** Returns performer-pytorch's default number of random features, floor(d·ln d). */
export function defaultNbFeatures(dimHead: number): number {
  return Math.floor(dimHead * Math.log(dimHead));
}

/** Validates options and fills the reference's defaults. */
export function resolveConfig(options: OmninetOptions): OmninetConfig {
  // Limits the parameter count before any array is allocated: wasm32 memory has at most 4 GiB.
  const MAX_PARAMETERS = 2 ** 30;
  if (typeof options !== 'object' || options === null) {
    throw new OmninetError('INVALID_ARGUMENT', `model options must be an object like { dim: 512, depth: 6 }, got ${String(options)}`);
  }
  const variant = options.variant ?? 'omninet';
  if (!VARIANTS.includes(variant)) {
    throw new OmninetError('INVALID_ARGUMENT', `unknown variant "${String(variant)}"; expected one of ${VARIANTS.join(', ')}`);
  }

  const dim = positiveInteger('dim', options.dim);
  const depth = positiveInteger('depth', options.depth);
  checkDepth(depth);
  const heads = positiveInteger('heads', options.heads ?? 8);
  const dimHead = positiveInteger('dimHead', options.dimHead ?? 64);
  const poolLayerTokensEvery = positiveInteger('poolLayerTokensEvery', options.poolLayerTokensEvery ?? 2);
  const ffMult = positiveInteger('ffMult', options.ffMult ?? 4);
  const layernormEps = options.layernormEps ?? 1e-5;
  if (!(typeof layernormEps === 'number' && layernormEps > 0 && Number.isFinite(layernormEps))) {
    throw new OmninetError('INVALID_ARGUMENT', `layernormEps must be a positive number, got ${String(layernormEps)}`);
  }
  for (const key of ['attnDropout', 'ffDropout'] as const) {
    const p = options[key];
    if (p !== undefined && !(typeof p === 'number' && p >= 0 && p < 1)) {
      throw new OmninetError('INVALID_ARGUMENT', `${key} must be a number in [0, 1), got ${String(p)}`);
    }
  }

  let nbFeatures: number | null = null;
  if (variant !== 'omninet-causal-axial') {
    nbFeatures = positiveInteger('nbFeatures', options.nbFeatures ?? Math.max(1, defaultNbFeatures(dimHead)));
  }

  const perLayer = (3 + 1 + 4) * heads * dimHead * dim + 2 * ffMult * dim * dim + 4 * dim;
  const parameterCount = depth * perLayer + (nbFeatures ?? 0) * dimHead * depth;
  if (parameterCount > MAX_PARAMETERS) {
    throw new OmninetError(
      'LIMIT_EXCEEDED',
      `a model with dim ${dim}, depth ${depth}, heads ${heads} and dimHead ${dimHead} has about ${parameterCount.toExponential(2)} parameters, over the limit of ${MAX_PARAMETERS} (4 GiB of float32); choose smaller sizes`,
    );
  }

  const schedule = omniSchedule(variant, depth, poolLayerTokensEvery);
  return {
    variant,
    dim,
    depth,
    heads,
    dimHead,
    poolLayerTokensEvery,
    omniLayers: schedule.layers,
    omniPoolSizes: schedule.poolSizes,
    nbFeatures,
    ffMult,
    layernormEps,
  };
}

/**
 * Parses `__metadata__.config` (snake_case JSON as the exporters write it). Keys other than the
 * model's are ignored; `omni_layers` and `omni_pool_sizes`, when present, must agree with the
 * variant's schedule.
 */
export function configFromMetadata(json: string, source: string): OmninetConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: __metadata__.config is not valid JSON (${(error as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: __metadata__.config must be a JSON object, got ${json.slice(0, 60)}`);
  }
  // The config is flat. Deeper values would overflow the stack when an error message prints them.
  if (nestsDeeperThan(raw, 4)) {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: __metadata__.config nests JSON deeper than 4 levels; expected a flat object of numbers and strings`);
  }
  const c = raw as Record<string, unknown>;
  if (c.gelu !== undefined && c.gelu !== 'erf') {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: config gelu "${String(c.gelu)}" is not supported; only the erf form is`);
  }

  let config: OmninetConfig;
  try {
    config = resolveConfig({
      variant: c.variant as Variant | undefined,
      dim: c.dim as number,
      depth: c.depth as number,
      heads: c.heads as number | undefined,
      dimHead: c.dim_head as number | undefined,
      poolLayerTokensEvery: c.pool_layer_tokens_every as number | undefined,
      nbFeatures: c.nb_features as number | null | undefined,
      ffMult: c.ff_mult as number | undefined,
      layernormEps: c.layernorm_eps as number | undefined,
    });
  } catch (error) {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: __metadata__.config: ${(error as Error).message}`);
  }

  for (const [key, expected] of [
    ['omni_layers', config.omniLayers],
    ['omni_pool_sizes', config.omniPoolSizes],
  ] as const) {
    const given = c[key];
    if (given !== undefined && JSON.stringify(given) !== JSON.stringify(expected)) {
      throw new OmninetError(
        'INVALID_CHECKPOINT',
        `${source}: config ${key} ${JSON.stringify(given)} disagrees with variant ${config.variant} and pool_layer_tokens_every ${config.poolLayerTokensEvery}, which give ${JSON.stringify(expected)}`,
      );
    }
  }
  return config;
}

/** Returns the config in the snake_case form stored in `__metadata__.config`. */
export function configToMetadata(config: OmninetConfig): string {
  return JSON.stringify({
    variant: config.variant,
    dim: config.dim,
    depth: config.depth,
    heads: config.heads,
    dim_head: config.dimHead,
    pool_layer_tokens_every: config.poolLayerTokensEvery,
    omni_layers: config.omniLayers,
    omni_pool_sizes: config.omniPoolSizes,
    nb_features: config.nbFeatures,
    ff_mult: config.ffMult,
    layernorm_eps: config.layernormEps,
  });
}

function positiveInteger(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    const shown = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
    throw new OmninetError('INVALID_ARGUMENT', `${name} must be a positive integer, got ${shown}`);
  }
  return value;
}

const OPTION_KEYS = ['variant', 'dim', 'depth', 'heads', 'dimHead', 'poolLayerTokensEvery', 'nbFeatures', 'ffMult', 'layernormEps', 'attnDropout', 'ffDropout'];

/** Rejects option names the model does not know, suggesting the camelCase spelling of snake_case ones. */
export function checkOptionKeys(options: object, extraKeys: readonly string[]): void {
  const known = [...OPTION_KEYS, ...extraKeys];
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const camel = key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
    const hint = known.includes(camel) ? `did you mean ${camel}?` : `known options: ${known.join(', ')}`;
    throw new OmninetError('INVALID_ARGUMENT', `unknown model option "${key}"; ${hint}`);
  }
}
