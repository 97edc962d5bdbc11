import { mutateTree, serialize, tangleOffsets, toTree } from './json-tree.js';
import { FuzzRandom, INTERESTING_INTEGERS } from './random.js';
import { writeCheckpoint, type CheckpointSeed } from './seeds.js';

/** Bytes that break UTF-8: a lone continuation byte, an overlong form, an encoded surrogate, 0xff. */
const BAD_UTF8: readonly number[][] = [[0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let position = 0;
  for (const part of parts) {
    out.set(part, position);
    position += part.length;
  }
  return out;
}

/** Format-blind edits: bit flips, byte overwrites, truncation, extension, deletion and duplication. */
export function mutateBytes(input: Uint8Array, random: FuzzRandom): Uint8Array {
  const bytes = new Uint8Array(input);
  const at = () => random.below(Math.max(1, bytes.length));
  switch (random.below(7)) {
    case 0: {
      const flips = 1 + random.below(8);
      for (let i = 0; i < flips && bytes.length > 0; i++) bytes[at()]! ^= 1 << random.below(8);
      return bytes;
    }
    case 1: {
      if (bytes.length > 0) bytes[at()] = random.pick([0, 0xff, 0x7f, 0x80, 0x22, 0x5b, 0x7b, 0x2c, random.below(256)]);
      return bytes;
    }
    case 2:
      return bytes.subarray(0, at());
    case 3:
      return concat(bytes, Uint8Array.from({ length: 1 + random.below(64) }, () => random.below(256)));
    case 4: {
      const start = at();
      return concat(bytes.subarray(0, start), bytes.subarray(start + 1 + random.below(16)));
    }
    case 5: {
      const start = at();
      const chunk = bytes.subarray(start, start + 1 + random.below(32));
      return concat(bytes.subarray(0, start), chunk, bytes.subarray(start));
    }
    default: {
      const start = at();
      return concat(bytes.subarray(0, start), Uint8Array.from(random.pick(BAD_UTF8)), bytes.subarray(start));
    }
  }
}

/** Splits a valid safetensors seed into its JSON header text and data section. */
function splitSafetensors(bytes: Uint8Array): { header: string; data: Uint8Array } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: new TextDecoder().decode(bytes.subarray(8, 8 + length)), data: bytes.subarray(8 + length) };
}

function joinSafetensors(header: Uint8Array, data: Uint8Array, declaredLength: bigint): Uint8Array {
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, declaredLength, true);
  return concat(prefix, header, data);
}

/** Safetensors edits that understand the layout: JSON header edits, offsets, the length field, bad UTF-8. */
export function mutateSafetensors(seed: Uint8Array, random: FuzzRandom): Uint8Array {
  const choice = random.below(10);
  if (choice < 3) return mutateBytes(seed, random);

  const { header, data } = splitSafetensors(seed);
  let headerBytes = new TextEncoder().encode(header);
  if (choice < 7) {
    const tree = toTree(JSON.parse(header));
    const edits = 1 + random.below(3);
    for (let i = 0; i < edits; i++) mutateTree(tree, random);
    headerBytes = new TextEncoder().encode(serialize(tree));
  } else if (choice === 7) {
    const tree = toTree(JSON.parse(header));
    tangleOffsets(tree, random);
    headerBytes = new TextEncoder().encode(serialize(tree));
  } else if (choice === 8) {
    const at = random.below(headerBytes.length);
    headerBytes = concat(headerBytes.subarray(0, at), Uint8Array.from(random.pick(BAD_UTF8)), headerBytes.subarray(at));
  }

  // Mostly a consistent length field; otherwise an edge value or one that is off by a little.
  let declared = BigInt(headerBytes.length);
  if (choice === 9 || random.chance(0.1)) {
    const edge = random.pick([...INTERESTING_INTEGERS.filter((value) => value >= 0), headerBytes.length + 1, headerBytes.length - 1]);
    declared = BigInt.asUintN(64, BigInt(Math.max(0, edge)));
  }
  return joinSafetensors(headerBytes, data, declared);
}

const NPY_EDITS: readonly ((header: string, random: FuzzRandom) => string)[] = [
  // A number in the shape becomes an edge value, including ones past 2^53 and Python 2's long suffix.
  (header, random) =>
    header.replace(/\(([^)]*)\)/, (_, inner: string) => {
      const dims = inner.split(',').filter((dim) => dim.trim() !== '');
      const edge = () => random.pick([...INTERESTING_INTEGERS.map(String), '99999999999999999999', '1L', '+3', '-0', '3.0', '0x10', '1_0']);
      if (dims.length === 0 || random.chance(0.3)) dims.push(edge());
      else dims[random.below(dims.length)] = edge();
      return `(${dims.join(', ')}${dims.length === 1 ? ',' : ''})`;
    }),
  (header, random) => header.replace(/'descr': '[^']*'/, `'descr': '${random.pick(['<f8', '>f4', '|u1', '|b1', '<i4', '', 'f4', '<f4<', '<f99999999999'])}'`),
  (header) => header.replace('False', 'True'),
  (header, random) => header.replace(/'(descr|fortran_order|shape)'/, random.pick(["'extra'", "'shape'", "'descr'", '1', "b'shape'"])),
  (header, random) => {
    const depth = random.pick([10, 1000, 50000]);
    return header.replace(/'shape': \(/, `'shape': ${'('.repeat(depth)}`);
  },
  (header, random) => {
    const at = random.below(header.length);
    return header.slice(0, at) + random.pick(['\\', "'", '"', '{', '}', '(', ')', ',', ':', '\n', '\u00e9', '\ud800', 'None']) + header.slice(at + random.below(3));
  },
];

/** `.npy` edits that understand the layout: header literal edits, version byte, header length field. */
export function mutateNpy(seed: Uint8Array, random: FuzzRandom): Uint8Array {
  const choice = random.below(10);
  if (choice < 4) return mutateBytes(seed, random);

  const major = seed[6]!;
  const lengthSize = major === 1 ? 2 : 4;
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = 8 + lengthSize;
  let header = new TextDecoder('latin1').decode(seed.subarray(headerStart, headerStart + headerLength));
  const data = seed.subarray(headerStart + headerLength);

  const edits = 1 + random.below(2);
  for (let i = 0; i < edits; i++) header = random.pick(NPY_EDITS)(header, random);

  // Version 3.0 headers are UTF-8; other versions get the characters' low bytes, as latin1 does.
  const newMajor = random.chance(0.15) ? random.pick([1, 2, 3, 4, 0]) : major;
  const headerBytes = newMajor === 3 ? new TextEncoder().encode(header) : Uint8Array.from(header, (char) => char.charCodeAt(0) & 0xff);
  const newLengthSize = newMajor === 1 ? 2 : 4;
  const preamble = new Uint8Array(8 + newLengthSize);
  preamble.set(seed.subarray(0, 6));
  preamble[6] = newMajor;
  let declared = headerBytes.length;
  if (random.chance(0.1)) declared = random.pick([0, 1, headerBytes.length + 1, headerBytes.length - 1, 0xffff, 0xffffffff]);
  const preambleView = new DataView(preamble.buffer);
  if (newLengthSize === 2) preambleView.setUint16(8, declared & 0xffff, true);
  else preambleView.setUint32(8, declared >>> 0, true);
  return concat(preamble, headerBytes, data);
}

/** Checkpoint edits on `__metadata__.config`: JSON-aware edits, bad text, or no config at all. */
export function mutateCheckpoint(seed: CheckpointSeed, random: FuzzRandom): Uint8Array {
  const choice = random.below(10);
  if (choice === 0) {
    // Without a config the reader infers depth from the highest layer index among the names.
    if (random.chance(0.5)) return writeCheckpoint(seed, undefined);
    const layer = Math.abs(random.pick(INTERESTING_INTEGERS));
    const stray = { name: `layers.${layer}.${random.below(3)}.norm.weight`, dtype: 'F32' as const, shape: [1], data: new Float32Array(1) };
    const tensors = seed.tensors.some((tensor) => tensor.name === stray.name) ? seed.tensors : [...seed.tensors, stray];
    return writeCheckpoint({ ...seed, tensors }, undefined);
  }
  if (choice === 1) {
    const at = random.below(seed.config.length);
    return writeCheckpoint(seed, seed.config.slice(0, at) + random.pick(['', '{', '"', '\ud800', '\u0000', 'NaN']) + seed.config.slice(at + 1));
  }
  if (choice === 2) return mutateSafetensors(writeCheckpoint(seed, random.chance(0.5) ? seed.config : undefined), random);

  const tree = toTree(JSON.parse(seed.config));
  const edits = 1 + random.below(3);
  for (let i = 0; i < edits; i++) mutateTree(tree, random);
  return writeCheckpoint(seed, serialize(tree));
}
