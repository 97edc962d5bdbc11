import { readFileSync } from 'node:fs';

import { writeNpy } from '../../src/io/npy.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { configToMetadata, resolveConfig } from '../../src/model/config.js';
import { randomParameters } from '../../src/model/random-init.js';

/** Small valid files that the mutators start from. Small files keep a case well under a millisecond. */

const IO_DATA = new URL('../data/io/', import.meta.url);

/** Builds a safetensors file from a header object and a data section, the way an exporter would. */
export function buildSafetensors(header: unknown, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

export function safetensorsSeeds(): Uint8Array[] {
  const mixed = writeSafetensors(
    [
      { name: 'w', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, -2, 3.5, 0, 1e-3, -0]) },
      { name: 'scalar', dtype: 'F32', shape: [], data: new Float32Array([7]) },
      { name: 'empty', dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
      { name: 'bytes', dtype: 'U8', shape: [4], data: new Uint8Array([0, 1, 254, 255]) },
      { name: 'mask', dtype: 'BOOL', shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
    ],
    { note: 'fuzz seed', format: 'pt' },
  );

  // F16 and BF16 have no writer, so their header is written by hand.
  const halves = buildSafetensors(
    {
      h: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] },
    },
    new Uint8Array([0x00, 0x3c, 0x00, 0x7c, 0x01, 0x00, 0x80, 0x3f, 0x80, 0xff]),
  );
  return [mixed, halves];
}

export function npySeeds(): Uint8Array[] {
  const files = ['f32-2x3-v1.npy', 'f32-scalar-v1.npy', 'f32-0x3-v1.npy', 'bool-2x2-v1.npy', 'u8-5-v1.npy', 'f32-big-endian-v1.npy', 'f32-special-v2.npy', 'f32-special-v3.npy'];
  const stored = files.map((name) => new Uint8Array(readFileSync(new URL(name, IO_DATA))));
  const written = writeNpy({ dtype: 'float32', shape: [3, 1, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) });
  return [...stored, written];
}

/** A tiny checkpoint: its config JSON and its tensors, so a mutated config can be written back around them. */
export interface CheckpointSeed {
  config: string;
  tensors: { name: string; dtype: 'F32'; shape: number[]; data: Float32Array }[];
}

export function checkpointSeeds(): CheckpointSeed[] {
  const variants = ['omninet', 'omninet-causal-axial'] as const;
  return variants.map((variant) => {
    const config = resolveConfig({ variant, dim: 4, depth: 2, heads: 1, dimHead: 2, nbFeatures: 2, ffMult: 1 });
    const tensors = [...randomParameters(config, 1)].map(([name, { shape, data }]) => ({ name, dtype: 'F32' as const, shape, data }));
    return { config: configToMetadata(config), tensors };
  });
}

export function writeCheckpoint(seed: CheckpointSeed, config: string | undefined): Uint8Array {
  return writeSafetensors(seed.tensors, config === undefined ? {} : { config });
}
