import { OmninetError } from '../errors.js';

/**
 * Reader and writer for NumPy `.npy` files, versions 1.0, 2.0 and 3.0.
 *
 * Layout: the magic `\x93NUMPY`, a major and a minor version byte, the header length
 * (u16 little-endian in 1.0, u32 in 2.0 and 3.0), then the header, a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and ending in
 * '\n'. Headers are latin1 in 1.0 and 2.0 and UTF-8 in 3.0. The raw array data follows.
 *
 * Both functions work on plain bytes, so they run unchanged in Node, Deno and browsers.
 */

export type NpyDtype = 'float32' | 'uint8' | 'bool';

/** A decoded array in C (row-major) order. `bool` data contains only 0 and 1. */
export type NpyArray =
  | { dtype: 'float32'; shape: number[]; data: Float32Array }
  | { dtype: 'uint8' | 'bool'; shape: number[]; data: Uint8Array };

/** An array for `writeNpy`. */
export type NpyArrayInput =
  | { dtype: 'float32'; shape: readonly number[]; data: Float32Array }
  | { dtype: 'uint8' | 'bool'; shape: readonly number[]; data: Uint8Array };

export interface ReadNpyOptions {
  /** File name or URL that error messages start with. */
  source?: string;
  /** Largest header, in bytes, that the reader parses. Default 1 MB, while NumPy's own `np.load` stops at 10,000. */
  maxHeaderBytes?: number;
}

const DEFAULT_MAX_HEADER_BYTES = 1_000_000;

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

/** Alignment of the data section that NumPy 1.x and 2.x writers use. */
const ARRAY_ALIGN = 64;

/** NumPy leaves room for the first axis to grow to this many digits without rewriting the file. */
const GROWTH_AXIS_MAX_DIGITS = 21;

const DESCR_BY_DTYPE: Record<NpyDtype, string> = { float32: '<f4', uint8: '|u1', bool: '|b1' };

const SUPPORTED_DESCRS = "'<f4' or '>f4' (float32), '|u1' (uint8) and '|b1' (bool)";

// NOTE: the byte swaps for big-endian hosts have not been run, because no such host was available.
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A value of the Python literal subset that appears in `.npy` headers. */
type PyValue = string | number | boolean | null | PySequence | PyDict;

interface PySequence {
  kind: 'tuple' | 'list';
  items: PyValue[];
}

interface PyDict {
  kind: 'dict';
  entries: Map<string, PyValue>;
}

/** Array type, item size and byte order of a supported `descr` string. */
interface DescrInfo {
  dtype: NpyDtype;
  itemSize: number;
  bigEndian: boolean;
}

/**
 * Parses and validates a `.npy` file and copies its data into a fresh, aligned array.
 *
 * Big-endian float32 ('>f4') is converted to native order. Files with fortran_order True,
 * other dtypes, or a data section whose size differs from the shape are rejected.
 *
 * The data section must match the shape before anything is allocated, so the copy is never
 * larger than the file itself.
 *
 * @throws OmninetError `INVALID_NPY` with a one-line message naming the file and the bad value.
 * @throws OmninetError `LIMIT_EXCEEDED` when the header is over `maxHeaderBytes`.
 */
export function readNpy(bytes: Uint8Array, options: ReadNpyOptions = {}): NpyArray {
  const source = options.source ?? 'npy data';
  const fail = (message: string) => new OmninetError('INVALID_NPY', `${source}: ${message}`);

  const { headerText, dataOffset } = readPreamble(bytes, fail, options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, source);
  const header = parseHeaderDict(headerText, fail);

  const descr = parseDescr(header.get('descr'), fail);
  const shape = validateShape(header.get('shape'), fail);
  const fortranOrder = header.get('fortran_order');
  if (typeof fortranOrder !== 'boolean') {
    throw fail(`header fortran_order is ${formatPy(fortranOrder ?? null)}; expected True or False`);
  }
  if (fortranOrder) {
    throw fail(
      `fortran_order is True (column-major data) for shape ${formatShape(shape)}, which is not supported; ` +
        're-save it in C order with np.save(path, np.ascontiguousarray(array))',
    );
  }

  const data = bytes.subarray(dataOffset);
  const elementCount = shape.reduce((product, dim) => product * dim, 1);
  const expectedBytes = elementCount * descr.itemSize;
  if (data.length !== expectedBytes) {
    throw fail(
      `data section is ${data.length} bytes but shape ${formatShape(shape)} of ${descr.dtype} needs ${expectedBytes} bytes ` +
        `(${elementCount} elements × ${descr.itemSize})`,
    );
  }

  return decodeData(descr, shape, data, fail);
}

/** Reads magic, version and header length, and decodes the header text. */
function readPreamble(
  bytes: Uint8Array,
  fail: (message: string) => OmninetError,
  maxHeaderBytes: number,
  source: string,
): { headerText: string; dataOffset: number } {
  const magicMatches = bytes.length >= MAGIC.length && MAGIC.every((byte, i) => bytes[i] === byte);
  if (!magicMatches) {
    throw fail(`file does not start with the .npy magic \\x93NUMPY (first bytes: ${formatHexBytes(bytes.subarray(0, 8))})`);
  }
  if (bytes.length < 8) {
    throw fail(`file is ${bytes.length} bytes and ends inside the version bytes after the magic`);
  }

  const major = bytes[6];
  const minor = bytes[7];
  if (minor !== 0 || major < 1 || major > 3) {
    throw fail(`unsupported .npy version ${major}.${minor}; supported versions are 1.0, 2.0 and 3.0`);
  }

  const lengthFieldSize = major === 1 ? 2 : 4;
  const headerStart = 8 + lengthFieldSize;
  if (bytes.length < headerStart) {
    throw fail(`file is ${bytes.length} bytes and ends inside the ${lengthFieldSize}-byte header length of version ${major}.0`);
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = headerStart + headerLength;
  if (headerLength > maxHeaderBytes) {
    throw new OmninetError(
      'LIMIT_EXCEEDED',
      `${source}: header length ${headerLength} exceeds maxHeaderBytes ${maxHeaderBytes}; raise options.maxHeaderBytes if the file is trusted`,
    );
  }
  if (dataOffset > bytes.length) {
    throw fail(
      `header is truncated: header length ${headerLength} needs ${dataOffset} bytes before the data but the file is ${bytes.length} bytes`,
    );
  }

  const headerBytes = bytes.subarray(headerStart, dataOffset);
  let headerText: string;
  if (major === 3) {
    try {
      headerText = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      throw fail(`version 3.0 header (${headerLength} bytes) is not valid UTF-8`);
    }
  } else {
    headerText = decodeLatin1(headerBytes);
  }
  return { headerText, dataOffset };
}

/** Decodes ISO-8859-1. TextDecoder('latin1') is windows-1252 per the WHATWG spec, so it is not used. */
function decodeLatin1(bytes: Uint8Array): string {
  let text = '';
  for (const byte of bytes) text += String.fromCharCode(byte);
  return text;
}

function parseHeaderDict(headerText: string, fail: (message: string) => OmninetError): Map<string, PyValue> {
  let header: PyValue;
  try {
    header = new PyLiteralParser(headerText).parseDocument();
  } catch (error) {
    if (!(error instanceof PyLiteralSyntaxError)) throw error;
    throw fail(`header is not a valid Python literal (${error.message}); header: ${quoteHeader(headerText)}`);
  }

  if (header === null || typeof header !== 'object' || header.kind !== 'dict') {
    throw fail(`header is ${formatPy(header)}, not a dict; header: ${quoteHeader(headerText)}`);
  }

  const expectedKeys = ['descr', 'fortran_order', 'shape'];
  for (const key of expectedKeys) {
    if (!header.entries.has(key)) {
      throw fail(`header is missing the key '${key}'; a .npy header has exactly the keys descr, fortran_order and shape`);
    }
  }
  for (const key of header.entries.keys()) {
    if (!expectedKeys.includes(key)) {
      throw fail(`header has the unexpected key ${formatPy(key)}; a .npy header has exactly the keys descr, fortran_order and shape`);
    }
  }
  return header.entries;
}

function parseDescr(value: PyValue | undefined, fail: (message: string) => OmninetError): DescrInfo {
  if (typeof value === 'string') {
    const match = /^([<>|=]?)([fub])([0-9]+)$/.exec(value);
    if (match) {
      const [, byteOrder, kind, size] = match;
      if (kind === 'f' && size === '4' && (byteOrder === '<' || byteOrder === '>')) {
        return { dtype: 'float32', itemSize: 4, bigEndian: byteOrder === '>' };
      }
      if (kind === 'u' && size === '1') return { dtype: 'uint8', itemSize: 1, bigEndian: false };
      if (kind === 'b' && size === '1') return { dtype: 'bool', itemSize: 1, bigEndian: false };
    }
  }
  throw fail(
    `unsupported dtype descr ${formatPy(value ?? null)}; supported are ${SUPPORTED_DESCRS}, ` +
      'so convert first, e.g. np.save(path, array.astype(np.float32))',
  );
}

function validateShape(value: PyValue | undefined, fail: (message: string) => OmninetError): number[] {
  const isSequence = value !== null && typeof value === 'object' && value.kind !== 'dict';
  if (!isSequence) {
    throw fail(`header shape is ${formatPy(value ?? null)}; expected a tuple of non-negative integers such as (2, 3)`);
  }

  const shape: number[] = [];
  value.items.forEach((dim, axis) => {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw fail(
        `header shape ${formatPy(value)} has dimension ${axis} = ${formatPy(dim)}; expected a non-negative integer`,
      );
    }
    shape.push(dim);
  });
  return shape;
}

function decodeData(
  descr: DescrInfo,
  shape: number[],
  data: Uint8Array,
  fail: (message: string) => OmninetError,
): NpyArray {
  if (descr.dtype === 'float32') {
    const out = new Float32Array(data.length / 4);
    const outBytes = new Uint8Array(out.buffer);
    outBytes.set(data);
    if (descr.bigEndian === LITTLE_ENDIAN_HOST) swapByteOrder(outBytes, 4);
    return { dtype: 'float32', shape, data: out };
  }

  if (descr.dtype === 'bool') {
    const index = data.findIndex((byte) => byte > 1);
    if (index >= 0) {
      throw fail(`bool array has byte ${data[index]} at element ${index}; expected 0 or 1`);
    }
  }
  return { dtype: descr.dtype, shape, data: new Uint8Array(data) };
}

/**
 * Serializes an array as a C-order, little-endian `.npy` file, byte for byte as NumPy's
 * `np.save` writes it (checked against NumPy 2.4.6). The file is version 1.0, or 2.0 when the
 * header does not fit the 16-bit length of 1.0, and the data starts at a multiple of 64 bytes.
 *
 * @throws OmninetError `INVALID_ARGUMENT` for a bad shape, a data length that does not match
 * the shape, a data array of the wrong type, or bool data other than 0 and 1.
 */
export function writeNpy(array: NpyArrayInput): Uint8Array {
  validateInput(array);

  const descr = DESCR_BY_DTYPE[array.dtype];
  const shape = array.shape;
  const shapeRepr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeRepr}, }`;
  if (shape.length > 0) {
    dict += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  }

  // Version 1.0 stores the header length in 16 bits, and NumPy moves to 2.0 only when it overflows.
  let major = 1;
  let header = padHeader(dict, 10);
  if (header.length > 0xffff) {
    major = 2;
    header = padHeader(dict, 12);
  }
  const headerStart = major === 1 ? 10 : 12;

  const dataOffset = headerStart + header.length;
  const dataBytes = new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength);
  const out = new Uint8Array(dataOffset + dataBytes.length);

  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) {
    view.setUint16(8, header.length, true);
  } else {
    view.setUint32(8, header.length, true);
  }
  for (let i = 0; i < header.length; i++) out[headerStart + i] = header.charCodeAt(i);

  out.set(dataBytes, dataOffset);
  if (array.dtype === 'float32' && !LITTLE_ENDIAN_HOST) swapByteOrder(out.subarray(dataOffset), 4);
  return out;
}

/**
 * Pads the header with spaces and a final '\n' so the data starts at a multiple of 64. Like
 * NumPy, it adds a full 64 spaces when the header would already end on a boundary. The header is
 * ASCII, so its length in characters equals its length in bytes.
 */
function padHeader(dict: string, headerStart: number): string {
  const padding = ARRAY_ALIGN - ((headerStart + dict.length + 1) % ARRAY_ALIGN);
  return `${dict}${' '.repeat(padding)}\n`;
}

function validateInput(array: NpyArrayInput): void {
  const invalid = (message: string) => new OmninetError('INVALID_ARGUMENT', `writeNpy: ${message}`);
  const shapeText = `[${array.shape.join(', ')}]`;

  const badAxis = array.shape.findIndex((dim) => !Number.isSafeInteger(dim) || dim < 0);
  if (badAxis >= 0) {
    throw invalid(`shape ${shapeText} has dimension ${badAxis} = ${array.shape[badAxis]}; expected a non-negative integer`);
  }

  const expectedArray = array.dtype === 'float32' ? Float32Array : Uint8Array;
  if (!(array.data instanceof expectedArray)) {
    const actual = (array.data as object | null)?.constructor?.name ?? typeof array.data;
    throw invalid(`dtype ${array.dtype} needs data as a ${expectedArray.name}, got a ${actual}`);
  }

  const elementCount = array.shape.reduce((product, dim) => product * dim, 1);
  if (array.data.length !== elementCount) {
    throw invalid(`shape ${shapeText} has ${elementCount} elements but data has ${array.data.length}`);
  }

  if (array.dtype === 'bool') {
    const index = array.data.findIndex((byte) => byte > 1);
    if (index >= 0) {
      throw invalid(`bool data has value ${array.data[index]} at element ${index}; expected 0 or 1`);
    }
  }
}

class PyLiteralSyntaxError extends Error {}

const MAX_HEADER_NESTING = 32;

/**
 * Recursive-descent parser for the Python literals NumPy writes into headers: dicts with string
 * keys, single- or double-quoted strings, integers (with the `L` suffix of Python 2), True, False,
 * None, tuples and lists. Trailing commas are allowed, as in Python. Nothing is evaluated.
 */
class PyLiteralParser {
  private position = 0;

  /** Number of open dicts, tuples and lists. Real headers nest two deep, and a bound keeps the recursion off the stack limit. */
  private depth = 0;

  constructor(private readonly text: string) {}

  /** Parses one value surrounded by optional whitespace. */
  parseDocument(): PyValue {
    const value = this.parseValue();
    this.skipWhitespace();
    if (this.position < this.text.length) {
      throw this.error(`unexpected ${this.describeNext()} after the value`);
    }
    return value;
  }

  private parseValue(): PyValue {
    this.skipWhitespace();
    const char = this.text[this.position];
    if (char === '{' || char === '(' || char === '[') return this.parseContainer(char);
    if (char === "'" || char === '"') return this.parseString();
    if (char !== undefined && /[-+0-9]/.test(char)) return this.parseInteger();

    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(this.text.slice(this.position))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      this.position += word.length;
      return word === 'None' ? null : word === 'True';
    }
    throw this.error(`unexpected ${this.describeNext()}`);
  }

  private parseContainer(opening: '{' | '(' | '['): PyValue {
    if (this.depth >= MAX_HEADER_NESTING) {
      throw this.error(`nesting deeper than ${MAX_HEADER_NESTING} levels`);
    }
    this.depth++;
    try {
      if (opening === '{') return this.parseDict();
      return opening === '(' ? this.parseSequence('tuple', ')') : this.parseSequence('list', ']');
    } finally {
      this.depth--;
    }
  }

  private parseDict(): PyDict {
    this.position++; // '{'
    const entries = new Map<string, PyValue>();

    while (!this.consumeClosing('}')) {
      const keyPosition = this.position;
      const key = this.parseValue();
      if (typeof key !== 'string') {
        this.position = keyPosition;
        throw this.error(`dict key ${formatPy(key)} is not a string`);
      }
      if (entries.has(key)) {
        this.position = keyPosition;
        throw this.error(`duplicate dict key ${formatPy(key)}`);
      }

      this.skipWhitespace();
      if (this.text[this.position] !== ':') throw this.error(`expected ':' after key ${formatPy(key)}`);
      this.position++;
      entries.set(key, this.parseValue());

      this.expectCommaOr('}');
    }
    return { kind: 'dict', entries };
  }

  private parseSequence(kind: 'tuple' | 'list', closing: string): PyValue {
    this.position++; // '(' or '['
    const items: PyValue[] = [];
    let sawComma = false;

    while (!this.consumeClosing(closing)) {
      items.push(this.parseValue());
      sawComma = this.expectCommaOr(closing) || sawComma;
    }

    // In Python `(5)` is the integer 5 and only `(5,)` is a tuple.
    if (kind === 'tuple' && items.length === 1 && !sawComma) return items[0]!;
    return { kind, items };
  }

  private parseString(): string {
    const quote = this.text[this.position]!;
    this.position++;
    let value = '';

    for (;;) {
      const char = this.text[this.position];
      if (char === undefined || char === '\n') throw this.error('unterminated string');
      this.position++;
      if (char === quote) return value;
      if (char === '\\') {
        const escaped = this.text[this.position];
        if (escaped !== '\\' && escaped !== "'" && escaped !== '"') {
          this.position--;
          throw this.error(`unsupported escape sequence ${JSON.stringify(`\\${escaped ?? ''}`)} in string`);
        }
        value += escaped;
        this.position++;
      } else {
        value += char;
      }
    }
  }

  private parseInteger(): number {
    const match = /^[-+]?[0-9]+[lL]?/.exec(this.text.slice(this.position));
    const next = match ? this.text[this.position + match[0].length] : undefined;
    if (!match || (next !== undefined && /[0-9A-Za-z_.]/.test(next))) {
      throw this.error(`expected an integer at ${this.describeNext()}`);
    }
    this.position += match[0].length;
    return Number(match[0].replace(/[lL]$/, ''));
  }

  /** Skips whitespace and consumes `closing` if it comes next. */
  private consumeClosing(closing: string): boolean {
    this.skipWhitespace();
    if (this.text[this.position] === closing) {
      this.position++;
      return true;
    }
    return false;
  }

  /** After an item, consumes a comma (returning true) or leaves `closing` for the loop to take. */
  private expectCommaOr(closing: string): boolean {
    this.skipWhitespace();
    const char = this.text[this.position];
    if (char === ',') {
      this.position++;
      return true;
    }
    if (char === closing) return false;
    throw this.error(`expected ',' or '${closing}' but found ${this.describeNext()}`);
  }

  private skipWhitespace(): void {
    while (this.position < this.text.length && /\s/.test(this.text[this.position]!)) this.position++;
  }

  private describeNext(): string {
    const char = this.text[this.position];
    return char === undefined ? 'end of header' : JSON.stringify(char);
  }

  private error(message: string): PyLiteralSyntaxError {
    return new PyLiteralSyntaxError(`${message} at offset ${this.position}`);
  }
}

/** Formats a parsed value the way Python's repr would, for error messages. */
function formatPy(value: PyValue): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (value.kind === 'dict') {
    const items = [...value.entries].map(([key, item]) => `${formatPy(key)}: ${formatPy(item)}`);
    return `{${items.join(', ')}}`;
  }
  const items = value.items.map(formatPy);
  if (value.kind === 'list') return `[${items.join(', ')}]`;
  return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
}

function formatShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/** Quotes the header on one line, without its trailing padding, cut short when long. */
function quoteHeader(headerText: string): string {
  const trimmed = headerText.trimEnd();
  return JSON.stringify(trimmed.length > 120 ? `${trimmed.slice(0, 120)}...` : trimmed);
}

function formatHexBytes(bytes: Uint8Array): string {
  if (bytes.length === 0) return 'none, the file is empty';
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
}

function swapByteOrder(bytes: Uint8Array, width: number): void {
  for (let start = 0; start < bytes.length; start += width) {
    bytes.subarray(start, start + width).reverse();
  }
}
