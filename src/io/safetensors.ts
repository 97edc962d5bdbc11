import { OmninetError } from '../errors.js';

/**
 * Reader and writer for the safetensors format: an 8-byte little-endian u64 header length N,
 * N bytes of UTF-8 JSON, then the data section. Each JSON entry is
 * `name: {"dtype", "shape", "data_offsets": [begin, end]}` with offsets relative to the start of
 * the data section. An optional `"__metadata__"` entry maps strings to strings.
 *
 * Both functions work on plain bytes, so they run unchanged in Node, Deno and browsers.
 */

/** Dtypes that `readSafetensors` decodes. F16 and BF16 are widened to float32 exactly. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'U8' | 'BOOL';

export const SUPPORTED_SAFETENSORS_DTYPES: readonly SafetensorsDtype[] = ['F32', 'F16', 'BF16', 'U8', 'BOOL'];

/** One decoded tensor. `dtype` is the dtype stored in the file, and float dtypes decode to float32. */
export type SafetensorsTensor =
  | { name: string; dtype: 'F32' | 'F16' | 'BF16'; shape: number[]; data: Float32Array }
  | { name: string; dtype: 'U8' | 'BOOL'; shape: number[]; data: Uint8Array };

/** A decoded file. `tensors` keeps the order of the JSON header. */
export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsTensor>;
}

export interface ReadSafetensorsOptions {
  /** File name or URL that error messages start with. */
  source?: string;
  /** Largest header, in bytes, that the reader accepts before parsing JSON. Default 100 MB. */
  maxHeaderBytes?: number;
  /** Most header entries (tensors plus `__metadata__`) the reader accepts. Default 100,000. */
  maxTensors?: number;
  /** Returns true for tensors to leave out unread, whatever their dtype (non-weight buffers). */
  skip?: (name: string) => boolean;
}

/** A tensor for `writeSafetensors`. BOOL data must contain only 0 and 1. */
export type SafetensorsTensorInput =
  | { name: string; dtype: 'F32'; shape: readonly number[]; data: Float32Array }
  | { name: string; dtype: 'U8' | 'BOOL'; shape: readonly number[]; data: Uint8Array };

const DEFAULT_MAX_HEADER_BYTES = 100_000_000;

const DEFAULT_MAX_TENSORS = 100_000;

const MAX_HEADER_NESTING = 8;

const ELEMENT_BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, U8: 1, BOOL: 1 };

// NOTE: the byte swaps for big-endian hosts have not been run, because no such host was available.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A header entry after validation, before its bytes are decoded. */
interface TensorEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parses and validates a safetensors file and decodes every tensor.
 *
 * Tensor data is always copied into fresh arrays, so the result never aliases `bytes`. The copy
 * also makes float arrays 4-byte aligned when `bytes` starts at an odd offset (a pooled Node
 * `Buffer`) or a tensor starts at an odd data offset. Values are read as little-endian on any host.
 * Gaps between tensors are allowed and overlaps are not. Tensors with zero elements cover no
 * bytes, so they never overlap.
 *
 * @throws OmninetError `INVALID_CHECKPOINT` with a one-line message naming the file, the tensor and the bad value.
 * @throws OmninetError `LIMIT_EXCEEDED` when the header is over `maxHeaderBytes` or has more than `maxTensors` entries.
 */
export function readSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): SafetensorsFile {
  const source = options.source ?? 'safetensors data';
  const maxHeaderBytes = options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES;

  const headerLength = readHeaderLength(bytes, source, maxHeaderBytes);
  const header = parseHeader(bytes.subarray(8, 8 + headerLength), source);
  const dataSection = bytes.subarray(8 + headerLength);

  const maxTensors = options.maxTensors ?? DEFAULT_MAX_TENSORS;
  const entryCount = Object.keys(header).length;
  if (entryCount > maxTensors) {
    throw new OmninetError(
      'LIMIT_EXCEEDED',
      `${source}: header has ${entryCount} entries, over maxTensors ${maxTensors}; raise options.maxTensors if the file is trusted`,
    );
  }

  // Every tensor must lie inside the data section and no two may overlap, so the decoded
  // tensors never total more than the file's own size (twice it for F16 and BF16).
  let metadata: Record<string, string> = {};
  const entries: TensorEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = validateMetadata(value, source);
    } else if (!options.skip?.(name)) {
      entries.push(validateEntry(name, value, dataSection.length, source));
    }
  }

  checkOverlaps(entries, source);

  const tensors = new Map<string, SafetensorsTensor>();
  for (const entry of entries) {
    tensors.set(entry.name, decodeTensor(entry, dataSection.subarray(entry.begin, entry.end), source));
  }
  return { metadata, tensors };
}

function fail(source: string, message: string): OmninetError {
  return new OmninetError('INVALID_CHECKPOINT', `${source}: ${message}`);
}

function readHeaderLength(bytes: Uint8Array, source: string, maxHeaderBytes: number): number {
  if (bytes.length < 8) {
    throw fail(source, `file is ${bytes.length} bytes, shorter than the 8-byte header length that starts a safetensors file`);
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  const available = bytes.length - 8;
  if (headerLength > BigInt(available)) {
    throw fail(
      source,
      `header length ${headerLength} is larger than the ${available} bytes that follow it; the file is truncated or not safetensors`,
    );
  }
  if (headerLength > BigInt(maxHeaderBytes)) {
    throw new OmninetError(
      'LIMIT_EXCEEDED',
      `${source}: header length ${headerLength} exceeds maxHeaderBytes ${maxHeaderBytes}; raise options.maxHeaderBytes if the file is trusted`,
    );
  }
  return Number(headerLength);
}

function parseHeader(headerBytes: Uint8Array, source: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw fail(source, `header (${headerBytes.length} bytes) is not valid UTF-8`);
  }

  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw fail(source, `header is not valid JSON (${reason}); header starts with ${quoteExcerpt(text)}`);
  }

  // A valid header nests three levels (entries, then shapes). Deeper values would overflow the
  // stack when an error message prints them.
  if (nestsDeeperThan(header, MAX_HEADER_NESTING)) {
    throw fail(source, `header nests JSON deeper than ${MAX_HEADER_NESTING} levels; expected tensor entries with flat shapes`);
  }
  if (!isPlainObject(header)) {
    throw fail(source, `header is ${describeJson(header)}; expected a JSON object mapping tensor names to entries`);
  }
  return header;
}

/** Returns true when `value` nests arrays or objects more than `limit` levels deep. It stops at the limit, so deep input costs little. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (limit === 0) return true;
  const items = Array.isArray(value) ? value : Object.values(value);
  return items.some((item) => nestsDeeperThan(item, limit - 1));
}

function validateMetadata(value: unknown, source: string): Record<string, string> {
  if (!isPlainObject(value)) {
    throw fail(source, `"__metadata__" is ${describeJson(value)}; expected an object of string values`);
  }
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string') {
      throw fail(source, `"__metadata__" key ${JSON.stringify(key)} is ${describeJson(item)}; expected a string`);
    }
  }
  // Object.fromEntries defines own properties, so a key such as "__proto__" stays a plain key.
  return Object.fromEntries(Object.entries(value as Record<string, string>));
}

function validateEntry(name: string, value: unknown, dataLength: number, source: string): TensorEntry {
  const label = `tensor ${JSON.stringify(name)}`;
  if (!isPlainObject(value)) {
    throw fail(source, `${label} entry is ${describeJson(value)}; expected an object with dtype, shape and data_offsets`);
  }
  for (const key of ['dtype', 'shape', 'data_offsets']) {
    if (!Object.hasOwn(value, key)) {
      throw fail(source, `${label} is missing "${key}"; expected an object with dtype, shape and data_offsets`);
    }
  }

  const dtype = validateDtype(value.dtype, label, source);
  const shape = validateShape(value.shape, label, source);
  const [begin, end] = validateOffsets(value.data_offsets, label, source);

  if (end > dataLength) {
    throw fail(source, `${label} has data_offsets [${begin}, ${end}] but the data section is only ${dataLength} bytes`);
  }

  const elementCount = shape.reduce((product, dim) => product * dim, 1);
  const expectedBytes = elementCount * ELEMENT_BYTES[dtype];
  if (end - begin !== expectedBytes) {
    throw fail(
      source,
      `${label} has shape [${shape.join(', ')}] (${expectedBytes} bytes of ${dtype}) ` +
        `but data_offsets [${begin}, ${end}] cover ${end - begin} bytes`,
    );
  }

  return { name, dtype, shape, begin, end };
}

function validateDtype(value: unknown, label: string, source: string): SafetensorsDtype {
  const supported = SUPPORTED_SAFETENSORS_DTYPES.join(', ');
  if (typeof value !== 'string') {
    throw fail(source, `${label} has dtype ${describeJson(value)}; expected a string, one of ${supported}`);
  }
  if (!(SUPPORTED_SAFETENSORS_DTYPES as readonly string[]).includes(value)) {
    throw fail(source, `${label} has unsupported dtype ${JSON.stringify(value)}; supported dtypes are ${supported}`);
  }
  return value as SafetensorsDtype;
}

function validateShape(value: unknown, label: string, source: string): number[] {
  if (!Array.isArray(value)) {
    throw fail(source, `${label} has shape ${describeJson(value)}; expected an array of non-negative integers`);
  }
  value.forEach((dim: unknown, axis) => {
    if (!isNonNegativeSafeInteger(dim)) {
      throw fail(
        source,
        `${label} has shape ${JSON.stringify(value)} with dimension ${axis} = ${JSON.stringify(dim)}; ` +
          'expected a non-negative integer',
      );
    }
  });
  return value as number[];
}

function validateOffsets(value: unknown, label: string, source: string): [number, number] {
  const valid = Array.isArray(value) && value.length === 2 && value.every(isNonNegativeSafeInteger);
  if (!valid) {
    throw fail(
      source,
      `${label} has data_offsets ${describeJson(value)}; expected [begin, end] with two non-negative integers`,
    );
  }

  const [begin, end] = value as [number, number];
  if (begin > end) {
    throw fail(source, `${label} has data_offsets [${begin}, ${end}] with begin > end; expected begin <= end`);
  }
  return [begin, end];
}

function checkOverlaps(entries: readonly TensorEntry[], source: string): void {
  const occupied = entries.filter((entry) => entry.end > entry.begin);
  occupied.sort((a, b) => a.begin - b.begin || a.end - b.end);

  // Sorted by begin, a tensor overlaps an earlier one exactly when it begins before the
  // furthest end seen so far, even across gaps.
  let furthest: TensorEntry | undefined;
  for (const entry of occupied) {
    if (furthest !== undefined && entry.begin < furthest.end) {
      throw fail(
        source,
        `tensor ${JSON.stringify(entry.name)} data_offsets [${entry.begin}, ${entry.end}] overlap ` +
          `tensor ${JSON.stringify(furthest.name)} data_offsets [${furthest.begin}, ${furthest.end}]`,
      );
    }
    if (furthest === undefined || entry.end > furthest.end) furthest = entry;
  }
}

function decodeTensor(entry: TensorEntry, raw: Uint8Array, source: string): SafetensorsTensor {
  const { name, shape } = entry;
  switch (entry.dtype) {
    case 'F32':
      return { name, dtype: 'F32', shape, data: decodeFloat32(raw) };
    case 'F16':
      return { name, dtype: 'F16', shape, data: decodeFloat16(raw) };
    case 'BF16':
      return { name, dtype: 'BF16', shape, data: decodeBfloat16(raw) };
    case 'U8':
      return { name, dtype: 'U8', shape, data: new Uint8Array(raw) };
    case 'BOOL': {
      const index = raw.findIndex((byte) => byte > 1);
      if (index >= 0) {
        throw fail(source, `tensor ${JSON.stringify(name)} (BOOL) has byte ${raw[index]} at element ${index}; expected 0 or 1`);
      }
      return { name, dtype: 'BOOL', shape, data: new Uint8Array(raw) };
    }
  }
}

function decodeFloat32(raw: Uint8Array): Float32Array {
  const out = new Float32Array(raw.length / 4);
  const outBytes = new Uint8Array(out.buffer);
  outBytes.set(raw);
  if (!LITTLE_ENDIAN_HOST) swapByteOrder(outBytes, 4);
  return out;
}

/** Widens IEEE 754 half-precision values to float32 bit by bit, so every value is exact. */
function decodeFloat16(raw: Uint8Array): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(raw.length / 2);
  const outBits = new Uint32Array(out.buffer);

  for (let i = 0; i < out.length; i++) {
    const half = view.getUint16(2 * i, true);
    const sign = (half & 0x8000) << 16;
    const exponent = (half >> 10) & 0x1f;
    const mantissa = half & 0x3ff;

    if (exponent === 0) {
      // Zero or subnormal: mantissa × 2^-24 is exact in float32.
      out[i] = (sign ? -mantissa : mantissa) * 2 ** -24;
    } else if (exponent === 0x1f) {
      // Infinity or NaN. A NaN payload moves to the top of the float32 mantissa.
      outBits[i] = (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
    } else {
      // Rebias the exponent from 15 to 127.
      outBits[i] = (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
    }
  }
  return out;
}

/** Widens bfloat16 values, which are the top 16 bits of a float32, so every value is exact. */
function decodeBfloat16(raw: Uint8Array): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out = new Float32Array(raw.length / 2);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < out.length; i++) {
    outBits[i] = view.getUint16(2 * i, true) << 16 >>> 0;
  }
  return out;
}

/**
 * Serializes tensors to a safetensors file readable by the reference `safetensors` library.
 *
 * Tensors are stored back to back with no gaps: F32 tensors first, then U8 and BOOL, each group in
 * input order. The header is padded with spaces so the data section starts at a multiple of 8,
 * which keeps every F32 tensor 4-byte aligned in the file. Empty metadata is omitted.
 *
 * @throws OmninetError `INVALID_ARGUMENT` for duplicate or reserved names, bad shapes, a data
 * length that does not match the shape, or BOOL data other than 0 and 1.
 */
export function writeSafetensors(
  tensors: readonly SafetensorsTensorInput[],
  metadata: Record<string, string> = {},
): Uint8Array {
  validateInputs(tensors, metadata);

  const ordered = [...tensors].sort((a, b) => ELEMENT_BYTES[b.dtype] - ELEMENT_BYTES[a.dtype]);

  // The JSON is assembled by hand so that names such as "__proto__" stay ordinary keys.
  const headerParts: string[] = [];
  if (Object.keys(metadata).length > 0) {
    headerParts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let offset = 0;
  for (const tensor of ordered) {
    const byteLength = tensor.data.byteLength;
    const entry = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [offset, offset + byteLength] };
    headerParts.push(`${JSON.stringify(tensor.name)}:${JSON.stringify(entry)}`);
    offset += byteLength;
  }
  const dataLength = offset;

  const json = new TextEncoder().encode(`{${headerParts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + dataLength);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);

  let position = 8 + headerLength;
  for (const tensor of ordered) {
    const tensorBytes = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
    out.set(tensorBytes, position);
    if (!LITTLE_ENDIAN_HOST && tensor.dtype === 'F32') {
      swapByteOrder(out.subarray(position, position + tensorBytes.length), 4);
    }
    position += tensorBytes.length;
  }
  return out;
}

function validateInputs(tensors: readonly SafetensorsTensorInput[], metadata: Record<string, string>): void {
  const invalid = (message: string) => new OmninetError('INVALID_ARGUMENT', `writeSafetensors: ${message}`);

  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw invalid(`metadata key ${JSON.stringify(key)} is ${describeJson(value)}; expected a string`);
    }
  }

  const names = new Set<string>();
  for (const tensor of tensors) {
    const label = `tensor ${JSON.stringify(tensor.name)}`;
    if (tensor.name === '__metadata__') {
      throw invalid(`${label} uses the reserved name; pass metadata as the second argument`);
    }
    if (names.has(tensor.name)) {
      throw invalid(`${label} appears more than once; tensor names must be unique`);
    }
    names.add(tensor.name);

    const badAxis = tensor.shape.findIndex((dim) => !isNonNegativeSafeInteger(dim));
    if (badAxis >= 0) {
      throw invalid(
        `${label} has shape [${tensor.shape.join(', ')}] with dimension ${badAxis} = ${tensor.shape[badAxis]}; ` +
          'expected a non-negative integer',
      );
    }

    const expectedArray = tensor.dtype === 'F32' ? Float32Array : Uint8Array;
    if (!(tensor.data instanceof expectedArray)) {
      throw invalid(`${label} has dtype ${tensor.dtype} but data is a ${describeArray(tensor.data)}; expected a ${expectedArray.name}`);
    }

    const elementCount = tensor.shape.reduce((product, dim) => product * dim, 1);
    if (tensor.data.length !== elementCount) {
      throw invalid(
        `${label} has shape [${tensor.shape.join(', ')}] (${elementCount} elements) but data has ${tensor.data.length} elements`,
      );
    }

    if (tensor.dtype === 'BOOL') {
      const index = tensor.data.findIndex((byte) => byte > 1);
      if (index >= 0) {
        throw invalid(`${label} (BOOL) has value ${tensor.data[index]} at element ${index}; expected 0 or 1`);
      }
    }
  }
}

function swapByteOrder(bytes: Uint8Array, width: number): void {
  for (let start = 0; start < bytes.length; start += width) {
    bytes.subarray(start, start + width).reverse();
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeSafeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Names a parsed JSON value with its type, e.g. `"5" (a string)`, cut short for long values. */
function describeJson(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  let kind = `a ${typeof value}`;
  if (Array.isArray(value)) {
    kind = 'an array';
  } else if (typeof value === 'object') {
    kind = 'an object';
  }
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return `${truncate(text, 60)} (${kind})`;
}

function describeArray(value: unknown): string {
  return (value as object | null)?.constructor?.name ?? typeof value;
}

function quoteExcerpt(text: string): string {
  return JSON.stringify(truncate(text, 60));
}

function truncate(text: string, maxLength: number): string {
  return text.length > maxLength ? `${text.slice(0, maxLength)}...` : text;
}
