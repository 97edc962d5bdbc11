import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import { asWebGpuBackend } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry, WGSL_EXP, WGSL_GELU } from '../wgsl.js';

const WORKGROUP_SIZE = 256;

// y[i] = gelu(x[i]) for i < size. Index space: [size].
const GELU_WGSL = /* wgsl */ `
struct Params { start: u32, count: u32, xBase: u32, yBase: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
${WGSL_EXP}
${WGSL_GELU}
${computeEntry(WORKGROUP_SIZE)}
  let local = group * ${WORKGROUP_SIZE}u + lid;
  if (local >= params.count) { return; }
  let i = params.start + local;
  y[i - params.yBase] = gelu(x[i - params.xBase]);
}
`;

// y[i] = a[i] + b[i mod period]; period = size when b has the shape of a. Index space: [size].
const ADD_WGSL = /* wgsl */ `
struct Params { start: u32, count: u32, period: u32, aBase: u32, bBase: u32, yBase: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${computeEntry(WORKGROUP_SIZE)}
  let local = group * ${WORKGROUP_SIZE}u + lid;
  if (local >= params.count) { return; }
  let i = params.start + local;
  y[i - params.yBase] = a[i - params.aBase] + b[i % params.period - params.bBase];
}
`;

registerKernel({
  kernelName: 'gelu',
  backendName: 'webgpu',
  kernelFunc: ({ x }, backend) => {
    const gpu = asWebGpuBackend(backend, 'webgpu gelu');
    const input = gpu.buffer(x, 'webgpu gelu');
    const y = gpu.empty(x.shape);
    const output = y.storage as GPUBuffer;

    gpu.run(
      {
        pipeline: gpu.pipeline('gelu', () => GELU_WGSL),
        dims: [x.size],
        ranges: ({ start: [first], size: [count] }) => [
          { buffer: input, first, end: first + count },
          { buffer: output, first, end: first + count },
        ],
        workgroups: ({ size: [count] }) => Math.ceil(count / WORKGROUP_SIZE),
        params: ({ start: [first], size: [count] }, [xBase, yBase]) => new ParamsWriter().u32(first).u32(count).u32(xBase).u32(yBase).finish(),
      },
      'webgpu gelu',
    );
    return y;
  },
});

registerKernel({
  kernelName: 'add',
  backendName: 'webgpu',
  kernelFunc: ({ a, b }, backend) => {
    const gpu = asWebGpuBackend(backend, 'webgpu add');
    const rowSize = a.shape[a.shape.length - 1];
    if (b.size !== a.size && b.size !== rowSize) {
      throw new OmninetError(
        'SHAPE_MISMATCH',
        `webgpu add: b [${b.shape.join(', ')}] must have the shape of a [${a.shape.join(', ')}] or be one row of ${rowSize} values`,
      );
    }
    const aBuffer = gpu.buffer(a, 'webgpu add');
    const bBuffer = gpu.buffer(b, 'webgpu add');
    const y = gpu.empty(a.shape);
    const output = y.storage as GPUBuffer;
    const period = b.size;

    gpu.run(
      {
        pipeline: gpu.pipeline('add', () => ADD_WGSL),
        dims: [a.size],
        ranges: ({ start: [first], size: [count] }) => [
          { buffer: aBuffer, first, end: first + count },
          // A full-size b is read where a is; a row is bound whole.
          period === a.size ? { buffer: bBuffer, first, end: first + count } : { buffer: bBuffer, first: 0, end: period },
          { buffer: output, first, end: first + count },
        ],
        workgroups: ({ size: [count] }) => Math.ceil(count / WORKGROUP_SIZE),
        params: ({ start: [first], size: [count] }, [aBase, bBase, yBase]) =>
          new ParamsWriter().u32(first).u32(count).u32(period).u32(aBase).u32(bBase).u32(yBase).finish(),
      },
      'webgpu add',
    );
    return y;
  },
});
