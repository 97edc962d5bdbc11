import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { OmninetError } from '../src/errors.js';
import { readSafetensors, writeSafetensors, type SafetensorsTensorInput } from '../src/io/safetensors.js';

const FIXTURE = new URL('./data/fixtures/omninet-01.safetensors', import.meta.url);

/** Builds a file from a raw header (object or exact text) and data section, with an optional header length override. */
function buildFile(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Builds a file with one F32 tensor "w" of 4 elements, replacing entry fields with `fields` (undefined removes one). */
function fileWithEntry(fields: Record<string, unknown>, dataLength = 16): Uint8Array {
  const entry = { dtype: 'F32', shape: [4], data_offsets: [0, 16], ...fields };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) delete (entry as Record<string, unknown>)[key];
  }
  return buildFile({ w: entry }, new Uint8Array(dataLength));
}

function readBytes(bytes: Uint8Array) {
  return () => readSafetensors(bytes, { source: 'test.safetensors' });
}

function f32Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => view.setFloat32(4 * i, value, true));
  return out;
}

function u16Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  values.forEach((value, i) => view.setUint16(2 * i, value, true));
  return out;
}

/** Reference float16 decoding by arithmetic, independent of the bit manipulation under test. */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

describe('readSafetensors', () => {
  it('reads the omninet-01 fixture', () => {
    const file = readSafetensors(readFileSync(FIXTURE), { source: 'omninet-01.safetensors' });

    expect(file.tensors.size).toBe(58);
    expect(file.tensors.get('__input__')?.shape).toEqual([2, 23, 32]);
    expect(file.tensors.get('__output__')?.shape).toEqual([2, 23, 32]);
    expect(file.tensors.get('layers.0.0.fn.to_qkv.weight')?.shape).toEqual([96, 32]);
    expect(file.tensors.get('layers.0.2.fast_attention.projection_matrix')?.shape).toEqual([16, 8]);

    const norm = file.tensors.get('layers.0.0.norm.weight');
    expect(norm?.dtype).toBe('F32');
    expect(norm?.data).toBeInstanceOf(Float32Array);
    // Values read with NumPy: np.frombuffer(..., dtype='<f4').
    expect(Array.from(norm!.data.subarray(0, 3))).toEqual([0.7640708684921265, 1.098691463470459, 1.0289504528045654]);
    expect(file.tensors.get('__input__')!.data[2 * 23 * 32 - 1]).toBe(-0.16304978728294373);

    expect(Object.keys(file.metadata).sort()).toEqual(['config', 'tolerance']);
    expect(JSON.parse(file.metadata.config!).dim).toBe(32);
    expect(JSON.parse(file.metadata.tolerance!)).toEqual({ abs: 1e-5, rel: 1e-5 });
  });

  it('reads unaligned Buffer input', () => {
    const original = readFileSync(FIXTURE);
    const padded = Buffer.alloc(original.length + 1);
    original.copy(padded, 1);
    const unaligned = padded.subarray(1);
    expect(unaligned.byteOffset % 4).not.toBe(0);

    const expected = readSafetensors(original);
    const actual = readSafetensors(unaligned);

    expect([...actual.tensors.keys()]).toEqual([...expected.tensors.keys()]);
    for (const [name, tensor] of expected.tensors) {
      expect(actual.tensors.get(name)?.data).toEqual(tensor.data);
    }
  });

  it('reads unaligned tensor offsets', () => {
    const data = new Uint8Array([7, ...f32Bytes([1.5, -2, 3e-38])]);
    const bytes = buildFile(
      {
        flag: { dtype: 'U8', shape: [1], data_offsets: [0, 1] },
        w: { dtype: 'F32', shape: [3], data_offsets: [1, 13] },
      },
      data,
    );

    const file = readSafetensors(bytes);

    expect(file.tensors.get('flag')?.data).toEqual(new Uint8Array([7]));
    expect(Array.from(file.tensors.get('w')!.data)).toEqual([1.5, -2, Math.fround(3e-38)]);
  });

  it('copies data out of the input', () => {
    // Buffer#slice shares memory, so a reader that calls slice() on a Buffer would fail here.
    const bytes = Buffer.from(
      writeSafetensors([
        { name: 'w', dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) },
        { name: 'm', dtype: 'U8', shape: [2], data: new Uint8Array([3, 4]) },
      ]),
    );
    const file = readSafetensors(bytes);

    bytes.fill(0);

    expect(Array.from(file.tensors.get('w')!.data)).toEqual([1, 2]);
    expect(file.tensors.get('m')?.data).toEqual(new Uint8Array([3, 4]));
  });

  it('decodes every F16 value exactly', () => {
    const patterns = Array.from({ length: 0x10000 }, (_, bits) => bits);
    const bytes = buildFile({ h: { dtype: 'F16', shape: [0x10000], data_offsets: [0, 0x20000] } }, u16Bytes(patterns));

    const tensor = readSafetensors(bytes).tensors.get('h')!;

    expect(tensor.dtype).toBe('F16');
    expect(tensor.data).toBeInstanceOf(Float32Array);
    const mismatches = patterns.filter((bits) => !Object.is(tensor.data[bits], halfToNumber(bits)));
    expect(mismatches).toEqual([]);
  });

  it('decodes F16 special values', () => {
    const cases: [number, number][] = [
      [0x0000, 0],
      [0x8000, -0],
      [0x0001, 5.960464477539063e-8],
      [0x03ff, 0.00006097555160522461],
      [0x0400, 0.00006103515625],
      [0x3c00, 1],
      [0xc000, -2],
      [0x7bff, 65504],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x7e00, NaN],
    ];
    const bytes = buildFile(
      { h: { dtype: 'F16', shape: [cases.length], data_offsets: [0, 2 * cases.length] } },
      u16Bytes(cases.map(([bits]) => bits)),
    );

    const data = readSafetensors(bytes).tensors.get('h')!.data;

    cases.forEach(([bits, expected], i) => {
      expect(Object.is(data[i], expected), `0x${bits.toString(16)} -> ${data[i]}`).toBe(true);
    });
  });

  it('decodes BF16 bit-exactly', () => {
    const patterns = Array.from({ length: 0x10000 }, (_, bits) => bits);
    const bytes = buildFile({ b: { dtype: 'BF16', shape: [256, 256], data_offsets: [0, 0x20000] } }, u16Bytes(patterns));

    const tensor = readSafetensors(bytes).tensors.get('b')!;
    const bits = new Uint32Array(tensor.data.buffer);

    expect(tensor.dtype).toBe('BF16');
    expect(tensor.shape).toEqual([256, 256]);
    expect(patterns.filter((pattern) => bits[pattern] !== pattern << 16 >>> 0)).toEqual([]);
    expect(tensor.data[0x3f80]).toBe(1);
    expect(tensor.data[0x4049]).toBe(3.140625);
    expect(tensor.data[0xff80]).toBe(-Infinity);
    expect(tensor.data[0x7fc0]).toBeNaN();
  });

  it('reads BOOL, scalars and empty tensors', () => {
    const bytes = buildFile(
      {
        mask: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] },
        empty: { dtype: 'F32', shape: [0, 5], data_offsets: [3, 3] },
        scalar: { dtype: 'F32', shape: [], data_offsets: [3, 7] },
      },
      new Uint8Array([1, 0, 1, ...f32Bytes([4.5])]),
    );

    const file = readSafetensors(bytes);

    expect(file.tensors.get('mask')?.data).toEqual(new Uint8Array([1, 0, 1]));
    expect(file.tensors.get('empty')?.data).toEqual(new Float32Array(0));
    expect(file.tensors.get('scalar')?.shape).toEqual([]);
    expect(Array.from(file.tensors.get('scalar')!.data)).toEqual([4.5]);
    expect(file.metadata).toEqual({});
  });

  it('allows gaps between tensors', () => {
    const bytes = buildFile(
      {
        a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
        b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
      },
      f32Bytes([1, 99, 2]),
    );

    const file = readSafetensors(bytes);

    expect(Array.from(file.tensors.get('a')!.data)).toEqual([1]);
    expect(Array.from(file.tensors.get('b')!.data)).toEqual([2]);
  });

  it('keeps special names as keys', () => {
    const bytes = buildFile(
      '{"__metadata__":{"__proto__":"x"},"__proto__":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}',
      new Uint8Array([5]),
    );

    const file = readSafetensors(bytes);

    expect(Object.getOwnPropertyNames(file.metadata)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(file.metadata)).toBe(Object.prototype);
    expect(file.tensors.get('__proto__')?.data).toEqual(new Uint8Array([5]));
  });
});

describe('readSafetensors validation', () => {
  it('rejects file under 8 bytes', () => {
    expect(readBytes(new Uint8Array(5))).toThrow(/^test\.safetensors: file is 5 bytes, shorter than the 8-byte header length/);
  });

  it('uses INVALID_CHECKPOINT code', () => {
    let caught: unknown;
    try {
      readSafetensors(new Uint8Array(3));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OmninetError);
    expect((caught as OmninetError).code).toBe('INVALID_CHECKPOINT');
    expect((caught as OmninetError).message).toMatch(/^safetensors data: /);
  });

  it('rejects header longer than file', () => {
    const bytes = buildFile('{}', new Uint8Array(10), 1000);
    expect(readBytes(bytes)).toThrow(/header length 1000 is larger than the 12 bytes that follow it/);
  });

  it('rejects huge u64 header length', () => {
    const bytes = buildFile('{}', new Uint8Array(0), 0);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 64n - 1n, true);
    expect(readBytes(bytes)).toThrow(/header length 18446744073709551615 is larger than the 2 bytes/);
  });

  it('rejects header over maxHeaderBytes', () => {
    const bytes = buildFile({ __metadata__: { note: 'x'.repeat(40) } });
    expect(() => readSafetensors(bytes, { maxHeaderBytes: 67 })).toThrow(/header length 68 exceeds maxHeaderBytes 67/);
    expect(readSafetensors(bytes, { maxHeaderBytes: 68 }).metadata.note).toHaveLength(40);
  });

  it('rejects invalid UTF-8 header', () => {
    const bytes = buildFile('{"w": 1}');
    bytes[10] = 0xff;
    expect(readBytes(bytes)).toThrow(/header \(8 bytes\) is not valid UTF-8/);
  });

  it('rejects header that is not JSON', () => {
    expect(readBytes(buildFile('{"w": '))).toThrow(/header is not valid JSON \(.+\); header starts with "\{\\"w\\": "/);
  });

  it('rejects non-object header', () => {
    expect(readBytes(buildFile('[1, 2]'))).toThrow(/header is \[1,2\] \(an array\); expected a JSON object/);
    expect(readBytes(buildFile('null'))).toThrow(/header is null; expected a JSON object/);
    expect(readBytes(buildFile('"x"'))).toThrow(/header is "x" \(a string\); expected a JSON object/);
  });

  it('rejects entry that is not object', () => {
    expect(readBytes(buildFile({ w: 'F32' }))).toThrow(/tensor "w" entry is "F32" \(a string\); expected an object/);
  });

  it('rejects entry missing fields', () => {
    for (const field of ['dtype', 'shape', 'data_offsets']) {
      const bytes = fileWithEntry({ [field]: undefined });
      expect(readBytes(bytes), field).toThrow(new RegExp(`tensor "w" is missing "${field}"`));
    }
  });

  it('rejects non-string dtype', () => {
    expect(readBytes(fileWithEntry({ dtype: 5 }))).toThrow(/tensor "w" has dtype 5 \(a number\); expected a string, one of F32/);
  });

  it('rejects unsupported dtype', () => {
    expect(readBytes(fileWithEntry({ dtype: 'I64' }))).toThrow(
      /tensor "w" has unsupported dtype "I64"; supported dtypes are F32, F16, BF16, U8, BOOL/,
    );
  });

  it('rejects shape that is not array', () => {
    expect(readBytes(fileWithEntry({ shape: '4' }))).toThrow(/tensor "w" has shape "4" \(a string\); expected an array/);
  });

  it('rejects invalid shape entries', () => {
    const cases: [unknown[], RegExp][] = [
      [[2, -2], /shape \[2,-2\] with dimension 1 = -2; expected a non-negative integer/],
      [[1.5], /shape \[1.5\] with dimension 0 = 1.5/],
      [['4'], /shape \["4"\] with dimension 0 = "4"/],
      [[2 ** 53], /shape \[9007199254740992\] with dimension 0 = 9007199254740992/],
      [[null], /shape \[null\] with dimension 0 = null/],
    ];
    for (const [shape, message] of cases) {
      expect(readBytes(fileWithEntry({ shape })), JSON.stringify(shape)).toThrow(message);
    }
  });

  it('rejects malformed data_offsets', () => {
    const cases: [unknown, RegExp][] = [
      ['0-16', /data_offsets "0-16" \(a string\); expected \[begin, end\] with two non-negative integers/],
      [[0], /data_offsets \[0\] \(an array\); expected \[begin, end\]/],
      [[0, 8, 16], /data_offsets \[0,8,16\] \(an array\)/],
      [[-4, 12], /data_offsets \[-4,12\] \(an array\)/],
      [[0, 15.5], /data_offsets \[0,15.5\] \(an array\)/],
    ];
    for (const [offsets, message] of cases) {
      expect(readBytes(fileWithEntry({ data_offsets: offsets })), JSON.stringify(offsets)).toThrow(message);
    }
  });

  it('rejects begin after end', () => {
    expect(readBytes(fileWithEntry({ data_offsets: [16, 0] }))).toThrow(
      /tensor "w" has data_offsets \[16, 0\] with begin > end; expected begin <= end/,
    );
  });

  it('rejects end past data section', () => {
    expect(readBytes(fileWithEntry({}, 12))).toThrow(
      /tensor "w" has data_offsets \[0, 16\] but the data section is only 12 bytes/,
    );
  });

  it('rejects byte length mismatch', () => {
    const bytes = buildFile(
      { 'layers.0.0.norm.weight': { dtype: 'F32', shape: [32], data_offsets: [0, 100] } },
      new Uint8Array(128),
    );
    expect(() => readSafetensors(bytes, { source: 'model.safetensors' })).toThrow(
      'model.safetensors: tensor "layers.0.0.norm.weight" has shape [32] (128 bytes of F32) but data_offsets [0, 100] cover 100 bytes',
    );
  });

  it('rejects overlapping tensors', () => {
    const bytes = buildFile(
      {
        b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      },
      new Uint8Array(12),
    );
    expect(readBytes(bytes)).toThrow(/tensor "b" data_offsets \[4, 12\] overlap tensor "a" data_offsets \[0, 8\]/);
  });

  it('rejects tensor inside another', () => {
    const bytes = buildFile(
      {
        big: { dtype: 'U8', shape: [16], data_offsets: [0, 16] },
        next: { dtype: 'U8', shape: [4], data_offsets: [16, 20] },
        inner: { dtype: 'U8', shape: [2], data_offsets: [6, 8] },
      },
      new Uint8Array(20),
    );
    expect(readBytes(bytes)).toThrow(/tensor "inner" data_offsets \[6, 8\] overlap tensor "big" data_offsets \[0, 16\]/);
  });

  it('allows empty tensor inside another', () => {
    const bytes = buildFile(
      {
        big: { dtype: 'U8', shape: [16], data_offsets: [0, 16] },
        empty: { dtype: 'U8', shape: [0], data_offsets: [6, 6] },
      },
      new Uint8Array(16),
    );
    expect(readSafetensors(bytes).tensors.get('empty')?.data).toEqual(new Uint8Array(0));
  });

  it('rejects non-object metadata', () => {
    expect(readBytes(buildFile({ __metadata__: 'x' }))).toThrow(/"__metadata__" is "x" \(a string\); expected an object of string values/);
    expect(readBytes(buildFile({ __metadata__: ['x'] }))).toThrow(/"__metadata__" is \["x"\] \(an array\)/);
  });

  it('rejects non-string metadata value', () => {
    expect(readBytes(buildFile({ __metadata__: { config: { dim: 32 } } }))).toThrow(
      /"__metadata__" key "config" is \{"dim":32\} \(an object\); expected a string/,
    );
  });

  it('rejects BOOL byte above 1', () => {
    const bytes = buildFile({ m: { dtype: 'BOOL', shape: [3], data_offsets: [0, 3] } }, new Uint8Array([1, 0, 2]));
    expect(readBytes(bytes)).toThrow(/tensor "m" \(BOOL\) has byte 2 at element 2; expected 0 or 1/);
  });
});

describe('writeSafetensors', () => {
  const tensors: SafetensorsTensorInput[] = [
    { name: 'mask', dtype: 'U8', shape: [3], data: new Uint8Array([1, 1, 0]) },
    { name: 'flags', dtype: 'BOOL', shape: [2], data: new Uint8Array([0, 1]) },
    { name: 'w', dtype: 'F32', shape: [2, 2], data: new Float32Array([1, -2.5, 1e-45, Infinity]) },
    { name: 'b', dtype: 'F32', shape: [], data: new Float32Array([0.1]) },
  ];

  it('round-trips tensors and metadata', () => {
    const metadata = { config: '{"dim": 2}', tolerance: 'ünïcode' };
    const file = readSafetensors(writeSafetensors(tensors, metadata));

    expect(file.metadata).toEqual(metadata);
    expect(file.tensors.size).toBe(tensors.length);
    for (const tensor of tensors) {
      const read = file.tensors.get(tensor.name);
      expect(read?.dtype, tensor.name).toBe(tensor.dtype);
      expect(read?.shape, tensor.name).toEqual(tensor.shape);
      expect(read?.data, tensor.name).toEqual(tensor.data);
    }
  });

  it('writes aligned contiguous layout', () => {
    const bytes = writeSafetensors(tensors);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));

    expect(headerLength % 8).toBe(0);
    expect(header.__metadata__).toBeUndefined();
    expect(Object.keys(header)).toEqual(['w', 'b', 'mask', 'flags']);
    expect(header.w.data_offsets).toEqual([0, 16]);
    expect(header.b.data_offsets).toEqual([16, 20]);
    expect(header.mask.data_offsets).toEqual([20, 23]);
    expect(header.flags.data_offsets).toEqual([23, 25]);
    expect(bytes.length).toBe(8 + headerLength + 25);
  });

  it('writes little-endian floats', () => {
    const bytes = writeSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: new Float32Array([1]) }]);
    expect(Array.from(bytes.subarray(bytes.length - 4))).toEqual([0x00, 0x00, 0x80, 0x3f]);
  });

  it('rejects invalid tensors', () => {
    const f32 = (name: string, shape: number[], length: number): SafetensorsTensorInput => ({
      name,
      dtype: 'F32',
      shape,
      data: new Float32Array(length),
    });
    const cases: [SafetensorsTensorInput[], RegExp][] = [
      [[f32('a', [1], 1), f32('a', [1], 1)], /tensor "a" appears more than once/],
      [[f32('__metadata__', [1], 1)], /tensor "__metadata__" uses the reserved name/],
      [[f32('a', [2, 3], 5)], /tensor "a" has shape \[2, 3\] \(6 elements\) but data has 5 elements/],
      [[f32('a', [-1], 0)], /tensor "a" has shape \[-1\] with dimension 0 = -1/],
      [[{ name: 'a', dtype: 'F32', shape: [1], data: new Uint8Array(4) as unknown as Float32Array }], /dtype F32 but data is a Uint8Array; expected a Float32Array/],
      [[{ name: 'm', dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 3]) }], /tensor "m" \(BOOL\) has value 3 at element 1/],
    ];
    for (const [input, message] of cases) {
      let caught: unknown;
      try {
        writeSafetensors(input);
      } catch (error) {
        caught = error;
      }
      expect((caught as OmninetError | undefined)?.code, String(message)).toBe('INVALID_ARGUMENT');
      expect((caught as Error).message, String(message)).toMatch(message);
    }
  });

  it('rejects non-string metadata', () => {
    const metadata = { dim: 32 } as unknown as Record<string, string>;
    expect(() => writeSafetensors([], metadata)).toThrow(/metadata key "dim" is 32 \(a number\); expected a string/);
  });
});
