import { describe, expect, it } from 'vitest';
import { loadModel, Omninet, OmninetCausal, OmninetError, readSafetensors, writeSafetensors, type OmninetModel } from '../src/index.js';
import { Random } from '../src/model/random-init.js';
import { readFixture } from './helpers/fixtures.js';

function randomInput(size: number, seed: number): Float32Array {
  const random = new Random(seed);
  return Float32Array.from({ length: size }, () => random.normal());
}

function maxDifference(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Rewrites a checkpoint with some tensors and metadata changed. */
function editCheckpoint(bytes: Uint8Array, edit: (tensors: { name: string; dtype: 'F32' | 'U8'; shape: number[]; data: Float32Array | Uint8Array }[], metadata: Record<string, string>) => void): Uint8Array {
  const file = readSafetensors(bytes);
  const tensors = [...file.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype as 'F32' | 'U8', shape: [...t.shape], data: t.data }));
  const metadata = { ...file.metadata };
  edit(tensors, metadata);
  return writeSafetensors(tensors, metadata);
}

const dims = { dim: 24, depth: 4, heads: 3, dimHead: 8, poolLayerTokensEvery: 3, seed: 7 };

describe.each(['wasm', 'js'] as const)('model properties on %s', (backend) => {
  const models: [string, () => OmninetModel][] = [
    ['omninet', () => new Omninet({ ...dims, backend })],
    ['omninet-causal-axial', () => new OmninetCausal({ ...dims, backend })],
  ];

  it.each(models)('%s is padding invariant', async (_name, create) => {
    const model = create();
    const seq = 13;
    const lengths = [13, 6, 1];
    const x = randomInput(3 * seq * dims.dim, 1);
    const mask = new Uint8Array(3 * seq);
    lengths.forEach((n, b) => mask.fill(1, b * seq, b * seq + n));
    // Padded positions hold garbage, including non-finite values.
    for (let b = 0; b < 3; b++) for (let p = lengths[b]; p < seq; p++) x[(b * seq + p) * dims.dim] = p % 2 ? NaN : 1e30;

    const batched = await model.forward(x, { shape: [3, seq, dims.dim], mask });

    for (let b = 0; b < 3; b++) {
      const n = lengths[b];
      const alone = await model.forward(x.slice(b * seq * dims.dim, (b * seq + n) * dims.dim), { shape: [1, n, dims.dim] });
      const real = batched.subarray(b * seq * dims.dim, (b * seq + n) * dims.dim);
      expect(maxDifference(real, alone), `row ${b} (length ${n})`).toBeLessThan(2e-5);
      expect(batched.subarray((b * seq + n) * dims.dim, (b + 1) * seq * dims.dim).every((v) => v === 0), `padded outputs of row ${b}`).toBe(true);
    }
    model.dispose();
  });

  it('omninet-causal-axial is causal', async () => {
    const model = new OmninetCausal({ ...dims, backend });
    const seq = 9;
    const x = randomInput(seq * dims.dim, 2);
    const before = await model.forward(x, { shape: [seq, dims.dim] });

    const changed = Float32Array.from(x);
    for (let c = 0; c < dims.dim; c++) changed[6 * dims.dim + c] += 3;
    const after = await model.forward(changed, { shape: [seq, dims.dim] });

    expect(maxDifference(before.subarray(0, 6 * dims.dim), after.subarray(0, 6 * dims.dim))).toBe(0);
    expect(maxDifference(before.subarray(6 * dims.dim), after.subarray(6 * dims.dim))).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it('round-trips through safetensors', async () => {
    const model = new Omninet({ ...dims, backend });
    const x = randomInput(2 * 5 * dims.dim, 3);
    const expected = await model.forward(x, { shape: [2, 5, dims.dim] });

    const reloaded = await loadModel(model.toSafetensors(), { backend });
    expect(reloaded.config).toEqual(model.config);
    expect(await reloaded.forward(x, { shape: [2, 5, dims.dim] })).toEqual(expected);
    model.dispose();
    reloaded.dispose();
  });
});

describe('random models', () => {
  it('use the reference defaults', () => {
    const model = new Omninet({ dim: 64, depth: 6 });
    expect(model.config).toMatchObject({ heads: 8, dimHead: 64, poolLayerTokensEvery: 2, nbFeatures: 266, ffMult: 4, layernormEps: 1e-5 });
    expect(model.config.omniLayers).toEqual([0, 2, 4]);
    expect(model.config.omniPoolSizes).toEqual([2, 2, 2]);
  });

  it('follow the paper schedule for causal-omni', () => {
    const model = new OmninetCausal({ dim: 16, depth: 6, poolLayerTokensEvery: 3, variant: 'omninet-causal-omni' });
    expect(model.config.omniLayers).toEqual([2, 5]);
    expect(model.config.omniPoolSizes).toEqual([3, 3]);
  });

  it('reject unknown option names', () => {
    expect(() => new Omninet({ dim: 8, depth: 2, dim_head: 4 } as never)).toThrow(/unknown model option "dim_head"; did you mean dimHead\?/);
    expect(() => new Omninet({ dim: 8, depth: 2, hedas: 4 } as never)).toThrow(/unknown model option "hedas"; known options: /);
    expect(() => new Omninet(undefined as never)).toThrow(/model options must be an object/);
  });

  it('reject bad seed, backend and variant', () => {
    expect(() => new Omninet({ dim: 8, depth: 2, seed: 'a' as never })).toThrow(/seed must be a non-negative integer, got a/);
    expect(() => new Omninet({ dim: 8, depth: 2, backend: 'gpu' as never })).toThrow(/backend "gpu" is not one of auto, webgpu, wasm, js/);
    expect(() => new Omninet({ dim: 8, depth: 2, variant: 'omninet-causal-axial' })).toThrow(/use OmninetCausal for the causal variants/);
  });

  it('reject sizes over the memory limit', () => {
    expect(() => new Omninet({ dim: 1_000_000, depth: 4 })).toThrow(/over the limit of 1073741824 \(4 GiB of float32\); choose smaller sizes/);
    expect(() => new Omninet({ dim: 8, depth: 2, dimHead: NaN })).toThrow(/dimHead must be a positive integer, got NaN/);
  });

  it('reject invalid options', () => {
    expect(() => new Omninet({ dim: 0, depth: 2 })).toThrow(/dim must be a positive integer, got 0/);
    expect(() => new Omninet({ dim: 8, depth: 2.5 })).toThrow(/depth must be a positive integer, got 2.5/);
    expect(() => new Omninet({ dim: 8, depth: 2, attnDropout: 1 })).toThrow(/attnDropout must be a number in \[0, 1\), got 1/);
    expect(() => new OmninetCausal({ dim: 8, depth: 2, variant: 'omninet' })).toThrow(/use Omninet for omninet/);
  });
});

describe('forward input checks', () => {
  const model = new Omninet({ ...dims, backend: 'js' });

  it('rejects a wrong length', async () => {
    await expect(model.forward(new Float32Array(10), { shape: [1, 2, 24] })).rejects.toThrow(/input has 10 values but shape \[1, 2, 24\] needs 48/);
  });

  it('rejects a wrong dim', async () => {
    await expect(model.forward(new Float32Array(10), { shape: [2, 5] })).rejects.toThrow(/last dimension 5 but the model's dim is 24/);
  });

  it('rejects a non-float input', async () => {
    await expect(model.forward([1, 2] as unknown as Float32Array, { shape: [1, 24] })).rejects.toThrow(/input must be a Float32Array, got Array/);
  });

  it('rejects a bad mask', async () => {
    await expect(model.forward(new Float32Array(48), { shape: [2, 24], mask: new Uint8Array(3) })).rejects.toThrow(/mask has 3 values but the input needs batch × seq = 1 × 2 = 2/);
    await expect(model.forward(new Float32Array(48), { shape: [2, 24], mask: [1, 5] })).rejects.toThrow(/mask value 5 at index 1/);
  });

  it('rejects infinity at a real position', async () => {
    const x = new Float32Array(48);
    x[30] = Infinity;
    await expect(model.forward(x, { shape: [2, 24] })).rejects.toThrow(/input value Infinity at flat index 30 \(token 1, channel 6\) is not finite/);
  });

  it('fails after dispose', async () => {
    const disposable = new Omninet({ ...dims, backend: 'js' });
    disposable.dispose();
    await expect(disposable.forward(new Float32Array(24), { shape: [1, 24] })).rejects.toThrow(OmninetError);
    await expect(disposable.forward(new Float32Array(24), { shape: [1, 24] })).rejects.toThrow(/disposed/);
  });
});

describe('checkpoint validation', () => {
  const fixture = readFixture('omninet-01.safetensors');

  it('names a mis-shaped tensor', async () => {
    const bytes = editCheckpoint(fixture.bytes, (tensors) => {
      const t = tensors.find((x) => x.name === 'layers.1.1.fn.net.0.bias')!;
      t.shape = [64];
      t.data = (t.data as Float32Array).slice(0, 64);
    });
    await expect(loadModel(bytes, { backend: 'js' })).rejects.toThrow(/tensor "layers\.1\.1\.fn\.net\.0\.bias" has shape \[64\] but omninet .* expects \[128\]/);
  });

  it('names a missing tensor', async () => {
    const bytes = editCheckpoint(fixture.bytes, (tensors) => {
      tensors.splice(tensors.findIndex((x) => x.name === 'layers.2.2.to_k.weight'), 1);
    });
    await expect(loadModel(bytes, { backend: 'js' })).rejects.toThrow(/missing tensor "layers\.2\.2\.to_k\.weight" of shape \[32, 32\]/);
  });

  it('names an unexpected tensor', async () => {
    const bytes = editCheckpoint(fixture.bytes, (tensors) => {
      tensors.push({ name: 'layers.1.2.to_q.weight', dtype: 'F32', shape: [32, 32], data: new Float32Array(1024) });
    });
    await expect(loadModel(bytes, { backend: 'js' })).rejects.toThrow(/unexpected tensor "layers\.1\.2\.to_q\.weight"/);
  });

  it('rejects a config that disagrees', async () => {
    const bytes = editCheckpoint(fixture.bytes, (_tensors, metadata) => {
      metadata.config = JSON.stringify({ ...JSON.parse(metadata.config), omni_layers: [1, 3] });
    });
    await expect(loadModel(bytes, { backend: 'js' })).rejects.toThrow(/config omni_layers \[1,3\] disagrees with variant omninet and pool_layer_tokens_every 2, which give \[0,2\]/);
  });

  it('rejects a config whose dim disagrees', async () => {
    const bytes = editCheckpoint(fixture.bytes, (_tensors, metadata) => {
      metadata.config = JSON.stringify({ ...JSON.parse(metadata.config), dim: 48 });
    });
    await expect(loadModel(bytes, { backend: 'js' })).rejects.toThrow(/tensor "layers\.0\.0\.norm\.weight" has shape \[32\] but omninet \(dim 48/);
  });

  it('rejects a config that is not JSON', async () => {
    const bytes = editCheckpoint(fixture.bytes, (_tensors, metadata) => {
      metadata.config = '{dim: 32';
    });
    await expect(loadModel(bytes, { backend: 'js' })).rejects.toThrow(/__metadata__\.config is not valid JSON/);
  });

  it('rejects an option contradicting metadata', async () => {
    await expect(loadModel(fixture.bytes, { backend: 'js', config: { heads: 5 } })).rejects.toThrow(/config option heads: 5 contradicts checkpoint's __metadata__\.config \(4\); drop the option/);
  });

  it('skips the Performer redraw counter', async () => {
    const file = readSafetensors(fixture.bytes);
    const tensors = [...file.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype as 'F32' | 'U8', shape: [...t.shape], data: t.data }));
    const bytes = writeSafetensors(tensors as never, file.metadata);
    // Append an int64 scalar entry by hand: the writer only makes F32, U8 and BOOL.
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    const dataLength = bytes.length - 8 - headerLength;
    header['projection_updater.calls_since_last_redraw'] = { dtype: 'I64', shape: [], data_offsets: [dataLength, dataLength + 8] };
    let text = JSON.stringify(header);
    text += ' '.repeat((8 - (text.length % 8)) % 8);
    const edited = new Uint8Array(8 + text.length + dataLength + 8);
    new DataView(edited.buffer).setBigUint64(0, BigInt(text.length), true);
    edited.set(new TextEncoder().encode(text), 8);
    edited.set(bytes.subarray(8 + headerLength), 8 + text.length);

    const model = await loadModel(edited, { backend: 'js' });
    expect(maxDifference(await model.forward(fixture.input, { shape: fixture.shape }), fixture.expected)).toBeLessThan(1e-4);
  });

  it('names the URL when fetching fails', async () => {
    await expect(loadModel('http://127.0.0.1:9/model.safetensors', { backend: 'js' })).rejects.toThrow(/fetching http:\/\/127\.0\.0\.1:9\/model\.safetensors failed: .*check the URL/);
  });

  it('rejects outputs that overflow', async () => {
    const model = new Omninet({ ...dims, backend: 'js' });
    const x = new Float32Array(2 * dims.dim).fill(3e38);
    await expect(model.forward(x, { shape: [2, dims.dim] })).rejects.toThrow(/output value NaN at flat index 0 .* is not finite: the input or weights overflow float32/);
  });

  it('infers the config without metadata', async () => {
    const bytes = editCheckpoint(fixture.bytes, (_tensors, metadata) => {
      delete metadata.config;
    });
    const model = await loadModel(bytes, { backend: 'js', config: { heads: 4 } });
    expect(model.config).toMatchObject({ variant: 'omninet', dim: 32, depth: 4, heads: 4, dimHead: 8, poolLayerTokensEvery: 2, nbFeatures: 16 });
    const output = await model.forward(fixture.input, { shape: fixture.shape });
    expect(maxDifference(output, fixture.expected)).toBeLessThan(1e-4);
  });

  it('asks for heads when it cannot infer them', async () => {
    const axial = readFixture('omninet-causal-axial-01.safetensors');
    const bytes = editCheckpoint(axial.bytes, (_tensors, metadata) => {
      delete metadata.config;
    });
    await expect(loadModel(bytes, { backend: 'js' })).rejects.toThrow(/heads·dim_head = 32 but not the split .*pass it in the config options/);
  });
});

describe('dispatcher', () => {
  it('runs per-op overrides with counted moves', async () => {
    const fixture = readFixture('omninet-01.safetensors');
    const model = await loadModel(fixture.bytes, { backend: 'wasm', ops: { attention: 'js', favorFeatures: 'js' } });
    const output = await model.forward(fixture.input, { shape: fixture.shape });
    expect(maxDifference(output, fixture.expected)).toBeLessThan(1e-4);

    const stats = await model.stats();
    expect(stats.ops.js).toBeGreaterThan(0);
    expect(stats.ops.wasm).toBeGreaterThan(0);
    expect(stats.moves).toBeGreaterThan(0);
    model.dispose();
  });

  it('rejects an unknown op override', async () => {
    await expect(loadModel(readFixture('omninet-01.safetensors').bytes, { backend: 'js', ops: { softmax: 'js' } as never })).rejects.toThrow(/unknown op "softmax"/);
  });
});
