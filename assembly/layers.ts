// Omnidirectional attention bookkeeping: interleave the hidden states of every layer, then
// max-pool each position back over its layers.

/**
 * Copies one hidden state src [rows, dim] into dst [rows·layers, dim] at rows r·layers + layer,
 * so that stacking layers 0 … L−1 puts the token at position p of layer l at index p·L + l.
 */
export function stackLayer(src: usize, dst: usize, rows: i32, dim: i32, layers: i32, layer: i32): void {
  const rowBytes = <usize>dim << 2;
  for (let row = 0; row < rows; row++) {
    const target = dst + (<usize>row * <usize>layers + <usize>layer) * rowBytes;
    memory.copy(target, src + <usize>row * rowBytes, rowBytes);
  }
}

/** y [rows, dim] = max over the `layers` consecutive rows of x [rows·layers, dim]; NaN wins. */
export function maxPoolLayers(x: usize, y: usize, rows: i32, layers: i32, dim: i32): void {
  const rowBytes = <usize>dim << 2;
  for (let row = 0; row < rows; row++) {
    const first = x + <usize>row * <usize>layers * rowBytes;
    const yRow = y + <usize>row * rowBytes;
    let c = 0;
    for (; c + 4 <= dim; c += 4) {
      const offset = <usize>c << 2;
      let best = v128.load(first + offset);
      for (let l = 1; l < layers; l++) best = f32x4.max(best, v128.load(first + <usize>l * rowBytes + offset));
      v128.store(yRow + offset, best);
    }
    for (; c < dim; c++) {
      const offset = <usize>c << 2;
      let best = load<f32>(first + offset);
      for (let l = 1; l < layers; l++) best = max<f32>(best, load<f32>(first + <usize>l * rowBytes + offset));
      store<f32>(yRow + offset, best);
    }
  }
}
