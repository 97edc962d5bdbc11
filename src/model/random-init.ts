import type { OmninetConfig } from './config.js';
import { expectedParameters } from './parameters.js';

/** A small seeded generator (mulberry32) with Gaussian draws by Box–Muller. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Returns a uniform draw in [0, 1). */
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns a standard normal draw. */
  normal(): number {
    const u = 1 - this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}

/**
 * Initialises parameters as the reference does: Linear weights and biases uniform in
 * ±1/√inFeatures (PyTorch's default), LayerNorm weight 1 and bias 0, positional embeddings
 * standard normal, and FAVOR+ projections as Gaussian orthogonal random matrices.
 */
export function randomParameters(config: OmninetConfig, seed: number): Map<string, { shape: number[]; data: Float32Array }> {
  const random = new Random(seed);
  const parameters = new Map<string, { shape: number[]; data: Float32Array }>();
  const shapes = expectedParameters(config);

  for (const [name, shape] of shapes) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (name.endsWith('norm.weight')) {
      data.fill(1);
    } else if (name.endsWith('norm.bias')) {
      data.fill(0);
    } else if (name === 'layer_pos_emb') {
      for (let i = 0; i < data.length; i++) data[i] = random.normal();
    } else if (name.endsWith('projection_matrix')) {
      data.set(gaussianOrthogonalMatrix(shape[0], shape[1], random));
    } else {
      // A bias takes the bound of its layer's weight, whose second dimension is inFeatures.
      const weightShape = name.endsWith('.bias') ? shapes.get(name.replace(/bias$/, 'weight'))! : shape;
      const bound = 1 / Math.sqrt(weightShape[1]);
      for (let i = 0; i < data.length; i++) data[i] = (2 * random.uniform() - 1) * bound;
    }
    parameters.set(name, { shape, data });
  }
  return parameters;
}

/**
 * Returns performer-pytorch's projection [rows, columns]: stacked blocks of orthonormal rows
 * (Gram–Schmidt on Gaussian blocks), each row scaled by the norm of an independent Gaussian
 * vector of length `columns`.
 */
function gaussianOrthogonalMatrix(rows: number, columns: number, random: Random): Float32Array {
  const out = new Float32Array(rows * columns);
  const block = new Float64Array(columns * columns);

  for (let start = 0; start < rows; start += columns) {
    for (let i = 0; i < block.length; i++) block[i] = random.normal();
    for (let r = 0; r < columns; r++) {
      const row = block.subarray(r * columns, (r + 1) * columns);
      for (let prev = 0; prev < r; prev++) {
        const other = block.subarray(prev * columns, (prev + 1) * columns);
        let dot = 0;
        for (let c = 0; c < columns; c++) dot += row[c] * other[c];
        for (let c = 0; c < columns; c++) row[c] -= dot * other[c];
      }
      const norm = Math.hypot(...row);
      for (let c = 0; c < columns; c++) row[c] /= norm;
    }

    const take = Math.min(columns, rows - start);
    for (let r = 0; r < take; r++) {
      let scale = 0;
      for (let c = 0; c < columns; c++) scale += random.normal() ** 2;
      scale = Math.sqrt(scale);
      for (let c = 0; c < columns; c++) out[(start + r) * columns + c] = block[r * columns + c] * scale;
    }
  }
  return out;
}
