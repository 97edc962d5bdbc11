import type { BackendPolicy } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import { readNpy, writeNpy, type NpyArray } from '../io/npy.js';
import { loadModel } from '../model/load.js';
import type { OmninetModel } from '../model/model.js';
import { readInputFile, writeOutputFile } from './files.js';
import type { ParsedArgs } from './main.js';

const BACKENDS: readonly BackendPolicy[] = ['auto', 'webgpu', 'wasm', 'js'];

/** `omninet forward MODEL --input X.npy [--mask M.npy] --output Y.npy [--backend …] [--decode]` */
export async function runForward({ positionals, values, flags }: ParsedArgs): Promise<void> {
  if (positionals.length !== 1) {
    throw new OmninetError('INVALID_ARGUMENT', `forward takes one MODEL.safetensors argument, got ${positionals.length ? positionals.join(' ') : 'none'}`);
  }
  const [modelPath] = positionals;
  if (!values.input) throw new OmninetError('INVALID_ARGUMENT', 'forward needs --input X.npy (float32, shape (batch, seq, dim) or (seq, dim))');
  if (!values.output) throw new OmninetError('INVALID_ARGUMENT', 'forward needs --output Y.npy');
  const backend = (values.backend ?? 'auto') as BackendPolicy;
  if (!BACKENDS.includes(backend)) {
    throw new OmninetError('INVALID_ARGUMENT', `--backend ${values.backend} is not one of ${BACKENDS.join(', ')}`);
  }

  // Read and check every input before loading the model, so bad files fail fast.
  const input = readNpy(await readInputFile(values.input, 'input'), { source: values.input });
  if (input.dtype !== 'float32') {
    throw new OmninetError('INVALID_NPY', `${values.input}: input dtype is ${input.dtype}; expected float32 (np.float32)`);
  }
  if (input.shape.length !== 2 && input.shape.length !== 3) {
    throw new OmninetError('INVALID_NPY', `${values.input}: input shape (${input.shape.join(', ')}) must be (batch, seq, dim) or (seq, dim)`);
  }
  const tokenShape = input.shape.slice(0, -1);

  let mask: Uint8Array | null = null;
  if (values.mask) {
    const maskArray = readMask(await readInputFile(values.mask, 'mask'), values.mask);
    if (maskArray.dtype === 'float32') {
      throw new OmninetError('INVALID_NPY', `${values.mask}: mask dtype is float32; expected uint8 or bool (mask.astype(np.uint8))`);
    }
    // A (seq) mask also fits a (1, seq, dim) input.
    const batchOfOne = maskArray.shape.length === 1 && tokenShape.length === 2 && tokenShape[0] === 1 && maskArray.shape[0] === tokenShape[1];
    if (!batchOfOne && maskArray.shape.join(',') !== tokenShape.join(',')) {
      throw new OmninetError('SHAPE_MISMATCH', `${values.mask}: mask shape (${maskArray.shape.join(', ')}) does not match the input's (${tokenShape.join(', ')})`);
    }
    mask = maskArray.data as Uint8Array;
    const bad = mask.findIndex((v) => v > 1);
    if (bad >= 0) throw new OmninetError('INVALID_NPY', `${values.mask}: mask value ${mask[bad]} at index ${bad} is not 0 or 1`);
  }

  const decode = flags.has('decode');
  const model = await loadModel(modelPath, { backend });
  try {
    if (decode && model.config.variant === 'omninet') {
      throw new OmninetError(
        'INVALID_ARGUMENT',
        `--decode needs a causal model, but ${modelPath} is variant omninet, whose outputs depend on later positions; drop --decode or use an omninet-causal-axial or omninet-causal-omni checkpoint`,
      );
    }
    const output = decode
      ? await decodePositions(model, input.data as Float32Array, input.shape, mask)
      : await model.forward(input.data as Float32Array, { shape: input.shape, mask });
    await writeOutputFile(values.output, writeNpy({ dtype: 'float32', shape: input.shape, data: output }));
    console.error(`wrote ${values.output}: float32 (${input.shape.join(', ')}) on backend ${await model.backend()}${decode ? ', decoded position by position' : ''}`);
  } finally {
    model.dispose();
  }
}

/**
 * Runs a causal model one position at a time through its decoder; x is (batch, seq, dim) or
 * (seq, dim), mask (batch, seq) or (seq). Returns the output in x's layout.
 */
async function decodePositions(model: OmninetModel, x: Float32Array, shape: readonly number[], mask: Uint8Array | null): Promise<Float32Array> {
  const [batch, seq, dim] = shape.length === 3 ? shape : [1, ...shape];
  if (dim !== model.config.dim) {
    throw new OmninetError('SHAPE_MISMATCH', `input shape (${shape.join(', ')}) has last dimension ${dim} but the model's dim is ${model.config.dim}`);
  }
  const decoder = model.createDecoder({ batch });
  try {
    const output = new Float32Array(x.length);
    const row = new Float32Array(batch * dim);
    const rowMask = new Uint8Array(batch);
    for (let p = 0; p < seq; p++) {
      for (let b = 0; b < batch; b++) {
        row.set(x.subarray((b * seq + p) * dim, (b * seq + p + 1) * dim), b * dim);
        rowMask[b] = mask ? mask[b * seq + p] : 1;
      }
      const y = await decoder.step(row, { mask: mask ? rowMask : null });
      for (let b = 0; b < batch; b++) output.set(y.subarray(b * dim, (b + 1) * dim), (b * seq + p) * dim);
    }
    return output;
  } finally {
    decoder.dispose();
  }
}

/** Reads a mask .npy, pointing users of integer or float64 masks at the uint8 conversion. */
function readMask(bytes: Uint8Array, path: string): NpyArray {
  try {
    return readNpy(bytes, { source: path });
  } catch (error) {
    if (error instanceof OmninetError && /unsupported dtype/.test(error.message)) {
      const descr = /descr '([^']+)'/.exec(error.message)?.[1] ?? 'this dtype';
      throw new OmninetError('INVALID_NPY', `${path}: mask dtype ${descr} is not supported; save it as uint8 or bool, e.g. np.save(path, mask.astype(np.uint8))`, { cause: error });
    }
    throw error;
  }
}
