import type { BackendPolicy } from '../dispatch/dispatcher.js';
import { OmninetError } from '../errors.js';
import { readNpy, writeNpy } from '../io/npy.js';
import { loadModel } from '../model/load.js';
import { readInputFile, writeOutputFile } from './files.js';
import type { ParsedArgs } from './main.js';

const BACKENDS: readonly BackendPolicy[] = ['auto', 'webgpu', 'wasm', 'js'];

/** `omninet forward MODEL --input X.npy [--mask M.npy] --output Y.npy [--backend …]` */
export async function runForward({ positionals, values }: ParsedArgs): Promise<void> {
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
    const maskArray = readNpy(await readInputFile(values.mask, 'mask'), { source: values.mask });
    if (maskArray.dtype === 'float32') {
      throw new OmninetError('INVALID_NPY', `${values.mask}: mask dtype is float32; expected uint8 or bool (mask.astype(np.uint8))`);
    }
    if (maskArray.shape.join(',') !== tokenShape.join(',')) {
      throw new OmninetError('SHAPE_MISMATCH', `${values.mask}: mask shape (${maskArray.shape.join(', ')}) does not match the input's (${tokenShape.join(', ')})`);
    }
    mask = maskArray.data as Uint8Array;
    const bad = mask.findIndex((v) => v > 1);
    if (bad >= 0) throw new OmninetError('INVALID_NPY', `${values.mask}: mask value ${mask[bad]} at index ${bad} is not 0 or 1`);
  }

  const model = await loadModel(modelPath, { backend });
  try {
    const output = await model.forward(input.data as Float32Array, { shape: input.shape, mask });
    await writeOutputFile(values.output, writeNpy({ dtype: 'float32', shape: input.shape, data: output }));
  } finally {
    model.dispose();
  }
}
