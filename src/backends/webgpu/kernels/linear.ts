import { OmninetError } from '../../../errors.js';
import { registerKernel } from '../../../kernels/registry.js';
import type { Tensor } from '../../../tensor.js';
import { asWebGpuBackend, assertSize, type WebGpuBackend } from '../backend.js';
import { ParamsWriter } from '../params.js';
import { computeEntry, WGSL_EXP, WGSL_GELU } from '../wgsl.js';

const WHAT = 'webgpu linear';

// Each workgroup of 64 invocations computes a block of ROWS rows × PANEL columns of y: invocation
// c owns columns 4c … 4c + 3 and keeps ROWS × 4 sums. Per step of TILE_K, the workgroup copies the
// ROWS × TILE_K block of x to workgroup memory, where every invocation reads the same value at a
// time, and each invocation streams its 4 columns of the weight, packed as below.
const ROWS = 16;
const PANEL = 256;
const TILE_K = 32;
const WORKGROUP_SIZE = PANEL / 4;

// The weight [outFeatures, inFeatures] packed as panels of PANEL output columns, transposed:
// packed[(p·inFeatures + k)·PANEL + j] = weight[p·PANEL + j, k], 0 past outFeatures. A column
// block is then contiguous in k, so a dispatch binds only its panels, and consecutive invocations
// read consecutive vec4s. Index space: [panels, inFeatures, PANEL].
const PACK_WGSL = /* wgsl */ `
struct Params {
  panelStart: u32, panelCount: u32, kStart: u32, kCount: u32, jStart: u32, jCount: u32,
  inFeatures: u32, outFeatures: u32, weightBase: u32, packedBase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> packed: array<f32>;
${computeEntry(256)}
  let local = group * 256u + lid;
  if (local >= params.panelCount * params.kCount * params.jCount) { return; }
  let j = params.jStart + local % params.jCount;
  let k = params.kStart + (local / params.jCount) % params.kCount;
  let p = params.panelStart + local / (params.jCount * params.kCount);
  let column = p * ${PANEL}u + j;
  var value = 0.0;
  if (column < params.outFeatures) { value = weight[column * params.inFeatures + k - params.weightBase]; }
  packed[(p * params.inFeatures + k) * ${PANEL}u + j - params.packedBase] = value;
}
`;

// y [rows, outFeatures] = x [rows, inFeatures] · weightᵀ + bias, then GELU when `activation` is 1,
// from the packed weight. Index space: [rows, panels, inFeatures]. When a binding limit splits
// inFeatures, each part adds its sum to what the parts before it left in y, and only the last
// part adds the bias and applies GELU.
const GEMM_WGSL = /* wgsl */ `
struct Params {
  rowStart: u32, rowCount: u32, panelStart: u32, panelCount: u32, kStart: u32, kCount: u32,
  inFeatures: u32, outFeatures: u32, hasBias: u32, activation: u32,
  xBase: u32, packedBase: u32, biasBase: u32, yBase: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> packed: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
${WGSL_EXP}
${WGSL_GELU}

var<workgroup> xTile: array<f32, ${ROWS * TILE_K}>; // [ROWS][TILE_K]

${computeEntry(WORKGROUP_SIZE)}
  let p = params.panelStart + group % params.panelCount;
  let row0 = params.rowStart + (group / params.panelCount) * ${ROWS}u;
  let rowEnd = params.rowStart + params.rowCount;
  if (row0 >= rowEnd) { return; }
  let inFeatures = params.inFeatures;
  // packed is bound as vec4s, and its window starts at a multiple of 64 floats.
  let packedRow0 = p * inFeatures * ${PANEL / 4}u + lid - params.packedBase / 4u;

  let kEnd = params.kStart + params.kCount;
  let isLastPart = kEnd == inFeatures;

  var acc: array<vec4<f32>, ${ROWS}>;
  for (var k0 = params.kStart; k0 < kEnd; k0 += ${TILE_K}u) {
    for (var e = lid; e < ${ROWS * TILE_K}u; e += ${WORKGROUP_SIZE}u) {
      let row = row0 + e / ${TILE_K}u;
      let k = k0 + e % ${TILE_K}u;
      var value = 0.0;
      if (row < rowEnd && k < kEnd) { value = x[row * inFeatures + k - params.xBase]; }
      xTile[e] = value;
    }
    workgroupBarrier();
    let steps = min(${TILE_K}u, kEnd - k0);
    for (var kk = 0u; kk < steps; kk++) {
      let w = packed[packedRow0 + (k0 + kk) * ${PANEL / 4}u];
      for (var i = 0u; i < ${ROWS}u; i++) { acc[i] += xTile[i * ${TILE_K}u + kk] * w; }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < ${ROWS}u; i++) {
    let row = row0 + i;
    if (row >= rowEnd) { break; }
    for (var j = 0u; j < 4u; j++) {
      let column = p * ${PANEL}u + lid * 4u + j;
      if (column >= params.outFeatures) { break; }
      let index = row * params.outFeatures + column - params.yBase;
      var value = acc[i][j];
      if (params.kStart > 0u) { value += y[index]; }
      if (isLastPart && params.hasBias != 0u) { value += bias[column - params.biasBase]; }
      if (isLastPart && params.activation != 0u) { value = gelu(value); }
      y[index] = value;
    }
  }
}
`;

export interface GemmArgs {
  x: GPUBuffer;
  /** The weight tensor [outFeatures, inFeatures]; persistent weights are packed once. */
  weight: Tensor;
  bias: GPUBuffer | null;
  y: GPUBuffer;
  rows: number;
  inFeatures: number;
  outFeatures: number;
  gelu: boolean;
}

/** Records y = x·weightᵀ (+ bias, then GELU) on buffers; favorFeatures reuses it for x·Wᵀ. */
export function recordGemm(gpu: WebGpuBackend, args: GemmArgs, what: string): void {
  const { x, y, rows, inFeatures, outFeatures } = args;
  const bias = args.bias ?? gpu.placeholder();
  const panels = Math.ceil(outFeatures / PANEL);
  const pack = () => packWeight(gpu, gpu.buffer(args.weight, what), inFeatures, outFeatures, what);
  const packed = args.weight.persistent ? gpu.derivedBuffer(args.weight, 'linear-panels', pack) : pack();

  gpu.run(
    {
      pipeline: gpu.pipeline('gemm', () => GEMM_WGSL),
      dims: [rows, panels, inFeatures],
      ranges: ({ start: [row, panel, k], size: [rowCount, panelCount, kCount] }) => [
        { buffer: x, first: row * inFeatures + k, end: (row + rowCount - 1) * inFeatures + k + kCount },
        { buffer: packed, first: (panel * inFeatures + k) * PANEL, end: ((panel + panelCount - 1) * inFeatures + k + kCount) * PANEL },
        args.bias ? { buffer: bias, first: panel * PANEL, end: Math.min(outFeatures, (panel + panelCount) * PANEL) } : { buffer: bias, first: 0, end: 1 },
        { buffer: y, first: row * outFeatures + panel * PANEL, end: (row + rowCount - 1) * outFeatures + Math.min(outFeatures, (panel + panelCount) * PANEL) },
      ],
      workgroups: ({ size: [rowCount, panelCount] }) => Math.ceil(rowCount / ROWS) * panelCount,
      params: ({ start: [row, panel, k], size: [rowCount, panelCount, kCount] }, [xBase, packedBase, biasBase, yBase]) =>
        new ParamsWriter()
          .u32(row)
          .u32(rowCount)
          .u32(panel)
          .u32(panelCount)
          .u32(k)
          .u32(kCount)
          .u32(inFeatures)
          .u32(outFeatures)
          .u32(args.bias ? 1 : 0)
          .u32(args.gelu ? 1 : 0)
          .u32(xBase)
          .u32(packedBase)
          .u32(biasBase)
          .u32(yBase)
          .finish(),
    },
    what,
  );
  if (!args.weight.persistent) gpu.releaseScratch(packed);
}

/** Records the packing of weight [outFeatures, inFeatures] into a new buffer of panels. */
function packWeight(gpu: WebGpuBackend, weight: GPUBuffer, inFeatures: number, outFeatures: number, what: string): GPUBuffer {
  const panels = Math.ceil(outFeatures / PANEL);
  const packed = gpu.scratch(panels * inFeatures * PANEL * 4);
  gpu.run(
    {
      pipeline: gpu.pipeline('packLinearWeight', () => PACK_WGSL),
      dims: [panels, inFeatures, PANEL],
      ranges: ({ start: [panel, k, j], size: [panelCount, kCount, jCount] }) => {
        // Columns past outFeatures read nothing; a box of only such columns binds one element.
        const firstColumn = Math.min(outFeatures - 1, panel * PANEL + j);
        const lastColumn = Math.min(outFeatures - 1, (panel + panelCount - 1) * PANEL + j + jCount - 1);
        return [
          { buffer: weight, first: firstColumn * inFeatures + k, end: lastColumn * inFeatures + k + kCount },
          { buffer: packed, first: (panel * inFeatures + k) * PANEL + j, end: ((panel + panelCount - 1) * inFeatures + k + kCount - 1) * PANEL + j + jCount },
        ];
      },
      workgroups: ({ size: [panelCount, kCount, jCount] }) => Math.ceil((panelCount * kCount * jCount) / 256),
      params: ({ start: [panel, k, j], size: [panelCount, kCount, jCount] }, [weightBase, packedBase]) =>
        new ParamsWriter()
          .u32(panel)
          .u32(panelCount)
          .u32(k)
          .u32(kCount)
          .u32(j)
          .u32(jCount)
          .u32(inFeatures)
          .u32(outFeatures)
          .u32(weightBase)
          .u32(packedBase)
          .finish(),
    },
    what,
  );
  return packed;
}

registerKernel({
  kernelName: 'linear',
  backendName: 'webgpu',
  kernelFunc: ({ x, weight, bias, activation }, backend) => {
    const gpu = asWebGpuBackend(backend, WHAT);
    const [outFeatures, inFeatures] = weight.shape;
    if (weight.shape.length !== 2 || x.shape[x.shape.length - 1] !== inFeatures) {
      throw new OmninetError('SHAPE_MISMATCH', `${WHAT}: x [${x.shape.join(', ')}] does not match weight [${weight.shape.join(', ')}]`);
    }
    if (bias) assertSize(bias, outFeatures, WHAT, 'bias');
    const rows = x.size / inFeatures;

    const y = gpu.empty([...x.shape.slice(0, -1), outFeatures]);
    recordGemm(
      gpu,
      {
        x: gpu.buffer(x, WHAT),
        weight,
        bias: bias ? gpu.buffer(bias, WHAT) : null,
        y: y.storage as GPUBuffer,
        rows,
        inFeatures,
        outFeatures,
        gelu: activation === 'gelu',
      },
      WHAT,
    );
    return y;
  },
});
