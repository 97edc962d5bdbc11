import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { OmninetError } from '../src/errors.js';
import { readNpy, writeNpy, type NpyArrayInput } from '../src/io/npy.js';

/*
 * The files under test/data/io/ were written once by NumPy 2.4.6 (Debian python3-numpy):
 *   a = np.array([[0.0, -0.0, 1.5], [-2.25, 1e-40, 3.4028235e38]], dtype='<f4')
 *   np.save('f32-2x3-v1.npy', a)
 *   np.save('f32-big-endian-v1.npy', a.astype('>f4'))
 *   np.save('f32-fortran-v1.npy', np.asfortranarray(a))
 *   np.save('u8-5-v1.npy', np.array([0, 1, 127, 128, 255], dtype=np.uint8))
 *   np.save('bool-2x2-v1.npy', np.array([[True, False], [False, True]]))
 *   np.save('f32-scalar-v1.npy', np.float32(2.5))
 *   np.save('f32-0x3-v1.npy', np.zeros((0, 3), dtype='<f4'))
 *   np.save('f64-2-v1.npy', np.array([1.0, 2.0]))
 *   np.save('u8-pad64-v1.npy', np.arange(100, dtype=np.uint8).reshape((1,) * 13 + (100,)))
 *   s = np.array([np.inf, -np.inf, np.nan, 0.1], dtype='<f4')
 *   np.lib.format.write_array(open('f32-special-v2.npy', 'wb'), s, version=(2, 0))
 *   np.lib.format.write_array(open('f32-special-v3.npy', 'wb'), s, version=(3, 0))
 * NumPy pads u8-pad64-v1.npy with a full 64 spaces because its header would otherwise end
 * exactly on a 64-byte boundary.
 */
function golden(name: string): Uint8Array {
  return readFileSync(new URL(`./data/io/${name}`, import.meta.url));
}

const GOLDEN_2X3 = [0, -0, 1.5, -2.25, Math.fround(1e-40), Math.fround(3.4028235e38)];

/** Builds a .npy file from exact header text (padding included) and data. */
function buildNpy(header: string, data: Uint8Array = new Uint8Array(0), major = 1, minor = 0): Uint8Array {
  const headerBytes = major === 3 ? new TextEncoder().encode(header) : Uint8Array.from(header, (char) => char.charCodeAt(0));
  const headerStart = major === 1 ? 10 : 12;
  const out = new Uint8Array(headerStart + headerBytes.length + data.length);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), major, minor]);
  const view = new DataView(out.buffer);
  if (major === 1) {
    view.setUint16(8, headerBytes.length, true);
  } else {
    view.setUint32(8, headerBytes.length, true);
  }
  out.set(headerBytes, headerStart);
  out.set(data, headerStart + headerBytes.length);
  return out;
}

/** Builds a .npy file whose header is `dict` padded so the data starts at a multiple of 64. */
function buildPadded(dict: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const padding = 64 - ((10 + dict.length + 1) % 64);
  return buildNpy(`${dict}${' '.repeat(padding)}\n`, data);
}

function f32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

function readBytes(bytes: Uint8Array) {
  return () => readNpy(bytes, { source: 'x.npy' });
}

describe('readNpy', () => {
  it('reads NumPy float32 v1', () => {
    const array = readNpy(golden('f32-2x3-v1.npy'));

    expect(array.dtype).toBe('float32');
    expect(array.shape).toEqual([2, 3]);
    expect(array.data).toBeInstanceOf(Float32Array);
    expect(Array.from(array.data)).toEqual(GOLDEN_2X3);
  });

  it('reads NumPy big-endian float32', () => {
    const array = readNpy(golden('f32-big-endian-v1.npy'));

    expect(array.dtype).toBe('float32');
    expect(array.shape).toEqual([2, 3]);
    expect(Array.from(array.data)).toEqual(GOLDEN_2X3);
  });

  it('reads NumPy uint8 and bool', () => {
    const bytes = readNpy(golden('u8-5-v1.npy'));
    expect(bytes.dtype).toBe('uint8');
    expect(bytes.shape).toEqual([5]);
    expect(bytes.data).toEqual(new Uint8Array([0, 1, 127, 128, 255]));

    const mask = readNpy(golden('bool-2x2-v1.npy'));
    expect(mask.dtype).toBe('bool');
    expect(mask.shape).toEqual([2, 2]);
    expect(mask.data).toEqual(new Uint8Array([1, 0, 0, 1]));
  });

  it('reads NumPy scalar and empty', () => {
    const scalar = readNpy(golden('f32-scalar-v1.npy'));
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data)).toEqual([2.5]);

    const empty = readNpy(golden('f32-0x3-v1.npy'));
    expect(empty.shape).toEqual([0, 3]);
    expect(empty.data).toEqual(new Float32Array(0));
  });

  it('reads NumPy v2 and v3', () => {
    for (const name of ['f32-special-v2.npy', 'f32-special-v3.npy']) {
      const array = readNpy(golden(name));
      expect(array.shape, name).toEqual([4]);
      expect(Array.from(array.data), name).toEqual([Infinity, -Infinity, NaN, Math.fround(0.1)]);
    }
  });

  it('reads header padded with 64', () => {
    const array = readNpy(golden('u8-pad64-v1.npy'));

    expect(array.shape).toEqual([...Array(13).fill(1), 100]);
    expect(array.data).toEqual(Uint8Array.from({ length: 100 }, (_, i) => i));
  });

  it('reads unaligned Buffer input', () => {
    const original = golden('f32-2x3-v1.npy');
    const padded = Buffer.alloc(original.length + 1);
    padded.set(original, 1);
    const unaligned = padded.subarray(1);
    expect(unaligned.byteOffset % 4).not.toBe(0);

    const array = readNpy(unaligned);

    expect(array.data.byteOffset % 4).toBe(0);
    expect(Array.from(array.data)).toEqual(GOLDEN_2X3);
  });

  it('copies data out of the input', () => {
    const bytes = golden('u8-5-v1.npy').slice();
    const array = readNpy(bytes);

    bytes.fill(9);

    expect(array.data).toEqual(new Uint8Array([0, 1, 127, 128, 255]));
  });

  it('accepts header syntax variants', () => {
    const data = f32Bytes([1, 2, 3, 4, 5, 6]);
    const variants = [
      `{"descr": "<f4", "fortran_order": False, "shape": (2, 3)}`,
      `{'shape': (2, 3,), 'fortran_order': False, 'descr': '<f4',}`,
      `{ 'descr' : '<f4' ,\t'fortran_order' : False , 'shape' : ( 2 , 3 ) , }`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }`,
      `{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], }`,
    ];
    for (const dict of variants) {
      const array = readNpy(buildPadded(dict, data));
      expect(array.shape, dict).toEqual([2, 3]);
      expect(Array.from(array.data), dict).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  it('accepts one-byte descr spellings', () => {
    for (const descr of ['|u1', 'u1', '<u1', '>u1', '=u1']) {
      const array = readNpy(buildPadded(`{'descr': '${descr}', 'fortran_order': False, 'shape': (2,), }`, new Uint8Array([3, 4])));
      expect(array.dtype, descr).toBe('uint8');
    }
    for (const descr of ['|b1', 'b1', '<b1']) {
      const array = readNpy(buildPadded(`{'descr': '${descr}', 'fortran_order': False, 'shape': (2,), }`, new Uint8Array([1, 0])));
      expect(array.dtype, descr).toBe('bool');
    }
  });

  it('accepts 16-byte aligned data', () => {
    // Old NumPy versions aligned the data to 16 bytes. Here it starts at byte 80, which is not a multiple of 64.
    const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }`;
    const header = `${dict}${' '.repeat(80 - 10 - dict.length - 1)}\n`;
    const bytes = buildNpy(header, f32Bytes([7]));
    expect(bytes.length - 4).toBe(80);

    const array = readNpy(bytes);

    expect(Array.from(array.data)).toEqual([7]);
  });

  it('accepts header without newline', () => {
    const array = readNpy(buildNpy(`{'descr': '|u1', 'fortran_order': False, 'shape': (1,)}`, new Uint8Array([8])));
    expect(array.data).toEqual(new Uint8Array([8]));
  });
});

describe('readNpy validation', () => {
  it('uses INVALID_NPY code', () => {
    let caught: unknown;
    try {
      readNpy(new Uint8Array(0));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OmninetError);
    expect((caught as OmninetError).code).toBe('INVALID_NPY');
    expect((caught as OmninetError).message).toMatch(/^npy data: /);
  });

  it('rejects bad magic', () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]);
    expect(readBytes(png)).toThrow(
      /^x\.npy: file does not start with the \.npy magic \\x93NUMPY \(first bytes: 89 50 4e 47 0d 0a 1a 0a\)$/,
    );
    expect(readBytes(new Uint8Array(0))).toThrow(/first bytes: none, the file is empty/);
    expect(readBytes(new Uint8Array([0x93, 0x4e, 0x55]))).toThrow(/does not start with the \.npy magic \\x93NUMPY \(first bytes: 93 4e 55\)/);
  });

  it('rejects file ending after magic', () => {
    const bytes = buildNpy('').subarray(0, 7);
    expect(readBytes(bytes)).toThrow(/file is 7 bytes and ends inside the version bytes/);
  });

  it('rejects unsupported versions', () => {
    for (const [major, minor] of [[4, 0], [1, 1], [0, 0]] as const) {
      const bytes = buildNpy(`{'descr': '|u1', 'fortran_order': False, 'shape': (0,)}\n`, undefined, major, minor);
      expect(readBytes(bytes), `${major}.${minor}`).toThrow(
        new RegExp(`unsupported \\.npy version ${major}\\.${minor}; supported versions are 1\\.0, 2\\.0 and 3\\.0`),
      );
    }
  });

  it('rejects truncated header length', () => {
    const bytes = buildNpy('{}', undefined, 2).subarray(0, 10);
    expect(readBytes(bytes)).toThrow(/file is 10 bytes and ends inside the 4-byte header length of version 2\.0/);
  });

  it('rejects truncated header', () => {
    const bytes = golden('f32-2x3-v1.npy').subarray(0, 50);
    expect(readBytes(bytes)).toThrow(/header is truncated: header length 118 needs 128 bytes before the data but the file is 50 bytes/);
  });

  it('rejects invalid UTF-8 in v3', () => {
    const bytes = golden('f32-special-v3.npy').slice();
    bytes[13] = 0xff;
    expect(readBytes(bytes)).toThrow(/version 3\.0 header \(116 bytes\) is not valid UTF-8/);
  });

  it('rejects unparseable headers', () => {
    const cases: [string, RegExp][] = [
      [`{'descr' '<f4'}`, /not a valid Python literal \(expected ':' after key 'descr' at offset 9\); header: "\{'descr' '<f4'\}"/],
      [`{'descr': '<f4'`, /expected ',' or '\}' but found end of header at offset 15/],
      [`{'descr': '<f4}`, /unterminated string at offset 15/],
      [`{'shape': (2.5,)}`, /expected an integer at "2" at offset 11/],
      [`{'shape': (2, 3)} x`, /unexpected "x" after the value at offset 18/],
      [`{descr: '<f4'}`, /unexpected "d" at offset 1/],
      [`{1: 2}`, /dict key 1 is not a string at offset 1/],
      [`{'a': 1, 'a': 2}`, /duplicate dict key 'a' at offset 9/],
      [`{'a': '\\x41'}`, /unsupported escape sequence "\\\\x" in string at offset 7/],
      [``, /\(unexpected end of header at offset 0\); header: ""/],
    ];
    for (const [header, message] of cases) {
      expect(readBytes(buildNpy(header)), header).toThrow(message);
    }
  });

  it('rejects header that is not dict', () => {
    expect(readBytes(buildNpy(`['<f4', False, (2,)]\n`))).toThrow(/header is \['<f4', False, \(2,\)\], not a dict/);
  });

  it('rejects missing header keys', () => {
    const cases: [string, string][] = [
      [`{'fortran_order': False, 'shape': (1,)}`, 'descr'],
      [`{'descr': '<f4', 'shape': (1,)}`, 'fortran_order'],
      [`{'descr': '<f4', 'fortran_order': False}`, 'shape'],
    ];
    for (const [header, key] of cases) {
      expect(readBytes(buildNpy(header)), key).toThrow(
        new RegExp(`header is missing the key '${key}'; a \\.npy header has exactly the keys descr, fortran_order and shape`),
      );
    }
  });

  it('rejects unexpected header key', () => {
    const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'order': 'C'}`;
    expect(readBytes(buildNpy(header))).toThrow(/header has the unexpected key 'order'/);
  });

  it('rejects fortran_order True', () => {
    expect(readBytes(golden('f32-fortran-v1.npy'))).toThrow(
      /fortran_order is True \(column-major data\) for shape \(2, 3\), which is not supported; re-save it in C order with np\.save\(path, np\.ascontiguousarray\(array\)\)/,
    );
  });

  it('rejects non-bool fortran_order', () => {
    const header = `{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}`;
    expect(readBytes(buildNpy(header, f32Bytes([1])))).toThrow(/header fortran_order is 0; expected True or False/);
  });

  it('rejects unsupported dtypes', () => {
    expect(readBytes(golden('f64-2-v1.npy'))).toThrow(
      /unsupported dtype descr '<f8'; supported are '<f4' or '>f4' \(float32\), '\|u1' \(uint8\) and '\|b1' \(bool\), so convert first, e\.g\. np\.save\(path, array\.astype\(np\.float32\)\)/,
    );
    const cases: [string, string][] = [
      [`'f4'`, `'f4'`],
      [`'|f4'`, `'\\|f4'`],
      [`'<i4'`, `'<i4'`],
      [`'<u2'`, `'<u2'`],
      [`[('x', '<f4')]`, `\\[\\('x', '<f4'\\)\\]`],
      [`None`, `None`],
    ];
    for (const [descr, shown] of cases) {
      const header = `{'descr': ${descr}, 'fortran_order': False, 'shape': (1,)}`;
      expect(readBytes(buildNpy(header, f32Bytes([1]))), descr).toThrow(new RegExp(`unsupported dtype descr ${shown}; supported are`));
    }
  });

  it('rejects invalid shapes', () => {
    const cases: [string, RegExp][] = [
      [`(2, -3)`, /header shape \(2, -3\) has dimension 1 = -3; expected a non-negative integer/],
      [`(2, '3')`, /header shape \(2, '3'\) has dimension 1 = '3'/],
      [`(True,)`, /header shape \(True,\) has dimension 0 = True/],
      [`(99999999999999999,)`, /header shape \(100000000000000000,\) has dimension 0 = 100000000000000000/],
      [`(6)`, /header shape is 6; expected a tuple of non-negative integers such as \(2, 3\)/],
      [`'2x3'`, /header shape is '2x3'; expected a tuple/],
    ];
    for (const [shape, message] of cases) {
      const header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}}`;
      expect(readBytes(buildNpy(header, f32Bytes([1, 2, 3, 4, 5, 6]))), shape).toThrow(message);
    }
  });

  it('rejects short data', () => {
    const bytes = golden('f32-2x3-v1.npy').subarray(0, 148);
    expect(readBytes(bytes)).toThrow(
      /data section is 20 bytes but shape \(2, 3\) of float32 needs 24 bytes \(6 elements × 4\)/,
    );
  });

  it('rejects trailing bytes', () => {
    const original = golden('u8-5-v1.npy');
    const bytes = new Uint8Array(original.length + 3);
    bytes.set(original);
    expect(readBytes(bytes)).toThrow(/data section is 8 bytes but shape \(5,\) of uint8 needs 5 bytes \(5 elements × 1\)/);
  });

  it('rejects bool byte above 1', () => {
    const bytes = buildPadded(`{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }`, new Uint8Array([0, 1, 255]));
    expect(readBytes(bytes)).toThrow(/bool array has byte 255 at element 2; expected 0 or 1/);
  });

  it('keeps messages on one line', () => {
    const header = `{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}${' '.repeat(200)}\n`;
    expect(readBytes(buildNpy(header))).toThrow(/^[^\n]+$/);
    expect(readBytes(buildNpy(`[1]${' '.repeat(20)}\n`))).toThrow(/^[^\n]+$/);
  });
});

describe('writeNpy', () => {
  it('matches NumPy bytes', () => {
    const cases: [string, NpyArrayInput][] = [
      ['f32-2x3-v1.npy', { dtype: 'float32', shape: [2, 3], data: new Float32Array(GOLDEN_2X3) }],
      ['u8-5-v1.npy', { dtype: 'uint8', shape: [5], data: new Uint8Array([0, 1, 127, 128, 255]) }],
      ['bool-2x2-v1.npy', { dtype: 'bool', shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) }],
      ['f32-scalar-v1.npy', { dtype: 'float32', shape: [], data: new Float32Array([2.5]) }],
      ['f32-0x3-v1.npy', { dtype: 'float32', shape: [0, 3], data: new Float32Array(0) }],
      [
        'u8-pad64-v1.npy',
        { dtype: 'uint8', shape: [...Array(13).fill(1), 100], data: Uint8Array.from({ length: 100 }, (_, i) => i) },
      ],
    ];
    for (const [name, array] of cases) {
      expect(Buffer.from(writeNpy(array)).equals(golden(name)), name).toBe(true);
    }
  });

  it('round-trips each dtype', () => {
    const arrays: NpyArrayInput[] = [
      { dtype: 'float32', shape: [2, 2, 2], data: new Float32Array([0, -0, 1e-45, -1e38, Infinity, -Infinity, NaN, 0.1]) },
      { dtype: 'uint8', shape: [3, 1], data: new Uint8Array([9, 0, 255]) },
      { dtype: 'bool', shape: [0], data: new Uint8Array(0) },
    ];
    for (const array of arrays) {
      const read = readNpy(writeNpy(array));
      expect(read.dtype, array.dtype).toBe(array.dtype);
      expect(read.shape, array.dtype).toEqual(array.shape);
      expect(read.data, array.dtype).toEqual(array.data);
    }
  });

  it('writes from unaligned views', () => {
    const backing = new Uint8Array(9);
    const data = backing.subarray(1, 6);
    data.set([5, 4, 3, 2, 1]);

    const read = readNpy(writeNpy({ dtype: 'uint8', shape: [5], data }));

    expect(read.data).toEqual(new Uint8Array([5, 4, 3, 2, 1]));
  });

  it('switches to v2 for long headers', () => {
    // 22,000 axes make the header exceed 65,535 bytes. NumPy caps ndim at 64, so it cannot write this file.
    const shape = Array<number>(22_000).fill(1);
    const bytes = writeNpy({ dtype: 'float32', shape, data: new Float32Array([3]) });
    const headerLength = new DataView(bytes.buffer).getUint32(8, true);

    expect(bytes[6]).toBe(2);
    expect(bytes[7]).toBe(0);
    expect(headerLength).toBeGreaterThan(0xffff);
    expect((12 + headerLength) % 64).toBe(0);
    expect(bytes[12 + headerLength - 1]).toBe(0x0a);
    expect(readNpy(bytes).shape).toHaveLength(22_000);
    expect(Array.from(readNpy(bytes).data)).toEqual([3]);
  });

  it('rejects invalid arrays', () => {
    const cases: [NpyArrayInput, RegExp][] = [
      [{ dtype: 'float32', shape: [2, 3], data: new Float32Array(5) }, /writeNpy: shape \[2, 3\] has 6 elements but data has 5/],
      [{ dtype: 'uint8', shape: [1.5], data: new Uint8Array(1) }, /shape \[1\.5\] has dimension 0 = 1\.5; expected a non-negative integer/],
      [{ dtype: 'float32', shape: [1], data: new Uint8Array(4) as unknown as Float32Array }, /dtype float32 needs data as a Float32Array, got a Uint8Array/],
      [{ dtype: 'bool', shape: [2], data: new Uint8Array([1, 2]) }, /bool data has value 2 at element 1; expected 0 or 1/],
    ];
    for (const [array, message] of cases) {
      let caught: unknown;
      try {
        writeNpy(array);
      } catch (error) {
        caught = error;
      }
      expect((caught as OmninetError | undefined)?.code, String(message)).toBe('INVALID_ARGUMENT');
      expect((caught as Error).message, String(message)).toMatch(message);
    }
  });
});
