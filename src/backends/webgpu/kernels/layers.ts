import { registerKernel } from '../../../kernels/registry.js';
import { asWebGpuBackend, assertSize } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry, WGSL_IS_NAN } from '../wgsl.js';

// Copies hidden state `layer` [rows, dim] into out [rows·layers, dim] at rows row·layers + layer.
// Index space: [rows]; one invocation per value.
const STACK_WGSL = /* wgsl */ `
struct Params { rowStart: u32, rowCount: u32, dim: u32, layers: u32, layer: u32, hiddenBase: u32, outBase: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> hidden: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
${computeEntry(256)}
  let local = group * 256u + lid;
  if (local >= params.rowCount * params.dim) { return; }
  let row = params.rowStart + local / params.dim;
  let c = local % params.dim;
  out[(row * params.layers + params.layer) * params.dim + c - params.outBase] = hidden[row * params.dim + c - params.hiddenBase];
}
`;

// y [rows, dim] = max over the `layers` consecutive rows of x [rows·layers, dim]; NaN wins, as in
// Math.max. Index space: [rows]; one invocation per output value.
const MAX_POOL_WGSL = /* wgsl */ `
struct Params { rowStart: u32, rowCount: u32, dim: u32, layers: u32, xBase: u32, yBase: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${WGSL_IS_NAN}
${computeEntry(256)}
  let local = group * 256u + lid;
  if (local >= params.rowCount * params.dim) { return; }
  let row = params.rowStart + local / params.dim;
  let c = local % params.dim;
  var best = x[row * params.layers * params.dim + c - params.xBase];
  for (var l = 1u; l < params.layers; l++) {
    let value = x[(row * params.layers + l) * params.dim + c - params.xBase];
    if (isNan(value) || value > best) { best = value; }
  }
  y[row * params.dim + c - params.yBase] = best;
}
`;

registerKernel({
  kernelName: 'stackLayers',
  backendName: 'webgpu',
  kernelFunc: ({ hiddens, batch, seq, dim }, backend) => {
    const gpu = asWebGpuBackend(backend, 'webgpu stackLayers');
    const layers = hiddens.length;
    const rows = batch * seq;
    const buffers = hiddens.map((hidden) => {
      assertSize(hidden, rows * dim, 'webgpu stackLayers', 'a hidden state');
      return gpu.buffer(hidden, 'webgpu stackLayers');
    });
    const out = gpu.empty([batch, seq * layers, dim]);
    const outBuffer = out.storage as GPUBuffer;
    const pipeline = gpu.pipeline('stackLayers', () => STACK_WGSL);

    buffers.forEach((hidden, layer) => {
      gpu.run(
        {
          pipeline,
          dims: [rows],
          ranges: ({ start: [row], size: [count] }) => [
            { buffer: hidden, first: row * dim, end: (row + count) * dim },
            { buffer: outBuffer, first: (row * layers + layer) * dim, end: ((row + count - 1) * layers + layer + 1) * dim },
          ],
          workgroups: ({ size: [count] }) => Math.ceil((count * dim) / 256),
          params: ({ start: [row], size: [count] }, [hiddenBase, outBase]) =>
            new ParamsWriter().u32(row).u32(count).u32(dim).u32(layers).u32(layer).u32(hiddenBase).u32(outBase).finish(),
        },
        'webgpu stackLayers',
      );
    });
    return out;
  },
});

registerKernel({
  kernelName: 'maxPoolLayers',
  backendName: 'webgpu',
  kernelFunc: ({ x, batch, seq, layers, dim }, backend) => {
    const gpu = asWebGpuBackend(backend, 'webgpu maxPoolLayers');
    assertSize(x, batch * seq * layers * dim, 'webgpu maxPoolLayers', 'x');
    const input = gpu.buffer(x, 'webgpu maxPoolLayers');
    const y = gpu.empty([batch, seq, dim]);
    const output = y.storage as GPUBuffer;

    gpu.run(
      {
        pipeline: gpu.pipeline('maxPoolLayers', () => MAX_POOL_WGSL),
        dims: [batch * seq],
        ranges: ({ start: [row], size: [count] }) => [
          { buffer: input, first: row * layers * dim, end: (row + count) * layers * dim },
          { buffer: output, first: row * dim, end: (row + count) * dim },
        ],
        workgroups: ({ size: [count] }) => Math.ceil((count * dim) / 256),
        params: ({ start: [row], size: [count] }, [xBase, yBase]) => new ParamsWriter().u32(row).u32(count).u32(dim).u32(layers).u32(xBase).u32(yBase).finish(),
      },
      'webgpu maxPoolLayers',
    );
    return y;
  },
});
