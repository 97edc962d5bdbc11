import { registerKernel } from '../../../kernels/registry.js';
import { asWebGpuBackend, assertSize } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry } from '../wgsl.js';

const WHAT = 'webgpu layerNorm';
const WORKGROUP_SIZE = 64;

// One workgroup per row of x [rows, dim]. A first pass gives a rough mean `shift`; the second
// sums d = x − shift and d², which keeps full precision when |mean| is large next to the spread
// (x − shift is then exact); the output uses (x − shift) − mean(d) for the same reason.
// Index space: [rows].
const LAYER_NORM_WGSL = /* wgsl */ `
struct Params { rowStart: u32, rowCount: u32, dim: u32, eps: f32, xBase: u32, yBase: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

var<workgroup> sums: array<f32, ${WORKGROUP_SIZE}>;
var<workgroup> squares: array<f32, ${WORKGROUP_SIZE}>;

// Tree sums of both arrays; every invocation reads the totals.
fn reduceSums(lid: u32) {
  for (var stride = ${WORKGROUP_SIZE / 2}u; stride > 0u; stride = stride >> 1u) {
    workgroupBarrier();
    if (lid < stride) {
      sums[lid] += sums[lid + stride];
      squares[lid] += squares[lid + stride];
    }
  }
  workgroupBarrier();
}

${computeEntry(WORKGROUP_SIZE)}
  if (group >= params.rowCount) { return; }
  let dim = params.dim;
  let row = params.rowStart + group;
  let xRow = row * dim - params.xBase;
  let yRow = row * dim - params.yBase;

  var partial = 0.0;
  for (var i = lid; i < dim; i += ${WORKGROUP_SIZE}u) { partial += x[xRow + i]; }
  sums[lid] = partial;
  squares[lid] = 0.0;
  reduceSums(lid);
  let shift = sums[0] / f32(dim);
  workgroupBarrier();

  var sumD = 0.0;
  var sumSquares = 0.0;
  for (var i = lid; i < dim; i += ${WORKGROUP_SIZE}u) {
    let d = x[xRow + i] - shift;
    sumD += d;
    sumSquares += d * d;
  }
  sums[lid] = sumD;
  squares[lid] = sumSquares;
  reduceSums(lid);
  let meanOfD = sums[0] / f32(dim);
  let variance = max(squares[0] / f32(dim) - meanOfD * meanOfD, 0.0);
  let invStd = 1.0 / sqrt(variance + params.eps);

  for (var i = lid; i < dim; i += ${WORKGROUP_SIZE}u) {
    let centered = (x[xRow + i] - shift) - meanOfD;
    y[yRow + i] = centered * invStd * gamma[i] + beta[i];
  }
}
`;

registerKernel({
  kernelName: 'layerNorm',
  backendName: 'webgpu',
  kernelFunc: ({ x, gamma, beta, eps }, backend) => {
    const gpu = asWebGpuBackend(backend, WHAT);
    const dim = x.shape[x.shape.length - 1];
    assertSize(gamma, dim, WHAT, 'gamma');
    assertSize(beta, dim, WHAT, 'beta');
    const rows = x.size / dim;
    const input = gpu.buffer(x, WHAT);
    const gammaBuffer = gpu.buffer(gamma, WHAT);
    const betaBuffer = gpu.buffer(beta, WHAT);
    const y = gpu.empty(x.shape);
    const output = y.storage as GPUBuffer;

    gpu.run(
      {
        pipeline: gpu.pipeline('layerNorm', () => LAYER_NORM_WGSL),
        dims: [rows],
        ranges: ({ start: [first], size: [count] }) => [
          { buffer: input, first: first * dim, end: (first + count) * dim },
          { buffer: gammaBuffer, first: 0, end: dim },
          { buffer: betaBuffer, first: 0, end: dim },
          { buffer: output, first: first * dim, end: (first + count) * dim },
        ],
        workgroups: ({ size: [count] }) => count,
        params: ({ start: [first], size: [count] }, [xBase, , , yBase]) =>
          new ParamsWriter().u32(first).u32(count).u32(dim).f32(eps).u32(xBase).u32(yBase).finish(),
      },
      WHAT,
    );
    return y;
  },
});
