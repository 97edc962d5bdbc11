import { OmninetError } from '../../errors.js';
import type { SafetensorsFile } from '../../io/safetensors.js';
import type { OmninetConfig } from '../config.js';

/**
 * Tensors a language-model checkpoint adds around the OmniNet layers. loadModel() skips them when
 * `__metadata__.language_model` is present, so the same file loads as the bare OmniNet too.
 */
export const LANGUAGE_MODEL_TENSORS = ['token_emb.weight', 'pos_emb.weight', 'norm.weight', 'norm.bias', 'to_logits.weight', 'to_logits.bias'] as const;

/**
 * The parts of a character-level language model outside the OmniNet layers, kept on the host:
 *   x_p = tokenEmbedding[token_p] + positionEmbedding[p]          (input of the layers, [dim])
 *   logits_p = logitsWeight · LN(y_p) + logitsBias                (y_p: output of the layers)
 */
export interface LanguageModelHead {
  vocabulary: string[];
  /** Positions the learned position embedding covers: the longest context the model reads. */
  maxSeqLen: number;
  dim: number;
  tokenEmbedding: Float32Array; // [vocab, dim]
  positionEmbedding: Float32Array; // [maxSeqLen, dim]
  normWeight: Float32Array; // [dim]
  normBias: Float32Array; // [dim]
  logitsWeight: Float32Array; // [vocab, dim]
  logitsBias: Float32Array; // [vocab]
  layernormEps: number;
  /** `__metadata__.language_model` as stored, for `omninet info` and the demo. */
  metadata: Record<string, unknown>;
}

/** Reads `__metadata__.language_model` and the wrapper tensors, checked against the OmniNet config. */
export function readLanguageModelHead(file: SafetensorsFile, config: OmninetConfig, source: string): LanguageModelHead {
  const json = file.metadata.language_model;
  if (json === undefined) {
    throw new OmninetError(
      'INVALID_CHECKPOINT',
      `${source} has no __metadata__.language_model, so it is a bare OmniNet, not a language model; load it with loadModel(), or export a language model with tools/train/export.py`,
    );
  }
  let metadata: Record<string, unknown>;
  try {
    metadata = JSON.parse(json) as Record<string, unknown>;
  } catch (error) {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: __metadata__.language_model is not valid JSON (${(error as Error).message})`);
  }
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: __metadata__.language_model must be a JSON object`);
  }

  const vocabulary = metadata.vocabulary;
  if (!Array.isArray(vocabulary) || vocabulary.length === 0 || !vocabulary.every((c) => typeof c === 'string')) {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: __metadata__.language_model.vocabulary must be a non-empty array of strings`);
  }
  const maxSeqLen = metadata.max_seq_len;
  if (typeof maxSeqLen !== 'number' || !Number.isInteger(maxSeqLen) || maxSeqLen < 2) {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: __metadata__.language_model.max_seq_len must be an integer ≥ 2, got ${JSON.stringify(maxSeqLen)}`);
  }
  if (metadata.positions !== undefined && metadata.positions !== 'learned') {
    throw new OmninetError('INVALID_CHECKPOINT', `${source}: positions "${String(metadata.positions)}" are not supported; only learned absolute positions are`);
  }

  const vocab = vocabulary.length;
  const dim = config.dim;
  const tensor = (name: string, shape: number[]): Float32Array => {
    const found = file.tensors.get(name);
    if (!found) throw new OmninetError('SHAPE_MISMATCH', `${source}: missing tensor "${name}" of shape [${shape.join(', ')}] that a language model needs`);
    if (found.shape.length !== shape.length || found.shape.some((d, i) => d !== shape[i])) {
      throw new OmninetError('SHAPE_MISMATCH', `${source}: tensor "${name}" has shape [${found.shape.join(', ')}] but vocabulary ${vocab}, dim ${dim} and max_seq_len ${maxSeqLen} need [${shape.join(', ')}]`);
    }
    if (!(found.data instanceof Float32Array)) throw new OmninetError('INVALID_CHECKPOINT', `${source}: tensor "${name}" has dtype ${found.dtype}; weights must be F32, F16 or BF16`);
    const bad = found.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new OmninetError('NON_FINITE', `${source}: weight "${name}" contains ${found.data[bad]} at flat index ${bad}; fix the checkpoint`);
    return found.data;
  };

  return {
    vocabulary: vocabulary as string[],
    maxSeqLen,
    dim,
    tokenEmbedding: tensor('token_emb.weight', [vocab, dim]),
    positionEmbedding: tensor('pos_emb.weight', [maxSeqLen, dim]),
    normWeight: tensor('norm.weight', [dim]),
    normBias: tensor('norm.bias', [dim]),
    logitsWeight: tensor('to_logits.weight', [vocab, dim]),
    logitsBias: tensor('to_logits.bias', [vocab]),
    layernormEps: config.layernormEps,
    metadata,
  };
}

/** Writes x_p = tokenEmbedding[token] + positionEmbedding[position] into `out` [dim]. */
export function embed(head: LanguageModelHead, token: number, position: number, out: Float32Array): Float32Array {
  const { dim } = head;
  for (let i = 0; i < dim; i++) out[i] = head.tokenEmbedding[token * dim + i] + head.positionEmbedding[position * dim + i];
  return out;
}

/** Returns logits [vocab] = logitsWeight · LN(y) + logitsBias for one position's output y [dim], in float64. */
export function logitsOf(head: LanguageModelHead, y: Float32Array, offset = 0): Float32Array {
  const { dim } = head;

  let mean = 0;
  for (let i = 0; i < dim; i++) mean += y[offset + i];
  mean /= dim;
  let variance = 0;
  for (let i = 0; i < dim; i++) variance += (y[offset + i] - mean) ** 2;
  variance /= dim;
  const inverseStd = 1 / Math.sqrt(variance + head.layernormEps);

  const normed = new Float64Array(dim);
  for (let i = 0; i < dim; i++) normed[i] = (y[offset + i] - mean) * inverseStd * head.normWeight[i] + head.normBias[i];

  const vocab = head.vocabulary.length;
  const logits = new Float32Array(vocab);
  for (let v = 0; v < vocab; v++) {
    let sum = head.logitsBias[v];
    for (let i = 0; i < dim; i++) sum += head.logitsWeight[v * dim + i] * normed[i];
    logits[v] = sum;
  }
  return logits;
}
