import { FuzzRandom, INTERESTING_NUMBER_LITERALS } from './random.js';

/**
 * A JSON document kept as a tree that can hold what `JSON.stringify` cannot write: duplicate
 * keys (objects are lists of pairs) and raw text such as `1e999` or deep nesting.
 */
export type JsonNode = null | boolean | number | string | JsonNode[] | JsonObject | RawJson;

export interface JsonObject {
  pairs: [string, JsonNode][];
}

export class RawJson {
  constructor(readonly text: string) {}
}

export function toTree(value: unknown): JsonNode {
  if (Array.isArray(value)) return value.map(toTree);
  if (typeof value === 'object' && value !== null) {
    return { pairs: Object.entries(value).map(([key, item]) => [key, toTree(item)] as [string, JsonNode]) };
  }
  return value as JsonNode;
}

export function serialize(node: JsonNode): string {
  if (node instanceof RawJson) return node.text;
  if (Array.isArray(node)) return `[${node.map(serialize).join(',')}]`;
  if (typeof node === 'object' && node !== null) {
    return `{${node.pairs.map(([key, item]) => `${JSON.stringify(key)}:${serialize(item)}`).join(',')}}`;
  }
  return JSON.stringify(node);
}

function isObject(node: JsonNode): node is JsonObject {
  return typeof node === 'object' && node !== null && !Array.isArray(node) && !(node instanceof RawJson);
}

/** Collects every container in the tree, so that a mutation can pick one uniformly. */
function containers(node: JsonNode, out: (JsonNode[] | JsonObject)[] = []): (JsonNode[] | JsonObject)[] {
  if (Array.isArray(node)) {
    out.push(node);
    node.forEach((item) => containers(item, out));
  } else if (isObject(node)) {
    out.push(node);
    node.pairs.forEach(([, item]) => containers(item, out));
  }
  return out;
}

/** Returns a replacement value: another type, an edge-case number, or raw text that no reader expects. */
function randomValue(random: FuzzRandom, old: JsonNode): JsonNode {
  switch (random.below(10)) {
    case 0:
    case 1:
    case 2:
      return new RawJson(random.pick(INTERESTING_NUMBER_LITERALS));
    case 3:
      return random.pick(['', 'F32', 'F16', 'BF16', 'U8', 'BOOL', 'F64', 'I64', 'omninet', 'omninet-causal-axial', '0', '__proto__']);
    case 4:
      return random.pick([null, true, false]);
    case 5:
      return [];
    case 6:
      return { pairs: [] };
    case 7: {
      // A huge shape or offsets pair: many axes or large extents.
      const length = random.pick([2, 3, 8, 64]);
      return Array.from({ length }, () => new RawJson(random.pick(INTERESTING_NUMBER_LITERALS)));
    }
    case 8: {
      const depth = random.pick([10, 1000, 20000]);
      return new RawJson('['.repeat(depth) + ']'.repeat(depth));
    }
    default:
      return [old, old];
  }
}

/** Applies one structural edit somewhere in the tree (which it changes in place). */
export function mutateTree(root: JsonNode, random: FuzzRandom): void {
  const all = containers(root);
  if (all.length === 0) return;
  const target = random.pick(all);

  if (Array.isArray(target)) {
    if (target.length === 0 || random.chance(0.2)) {
      target.push(randomValue(random, null));
      return;
    }
    const index = random.below(target.length);
    if (random.chance(0.2)) target.splice(index, 1);
    else target[index] = randomValue(random, target[index]!);
    return;
  }

  const { pairs } = target;
  const action = random.below(6);
  if (pairs.length === 0 || action === 0) {
    pairs.push([random.pick(['__metadata__', '__proto__', '', 'extra', 'dtype', 'shape', 'data_offsets']), randomValue(random, null)]);
  } else if (action === 1) {
    pairs.splice(random.below(pairs.length), 1);
  } else if (action === 2) {
    // A duplicate name: JSON.parse keeps the last one, so the reader sees the copy.
    const pair = pairs[random.below(pairs.length)]!;
    pairs.push([pair[0], randomValue(random, pair[1])]);
  } else if (action === 3) {
    const pair = pairs[random.below(pairs.length)]!;
    pair[0] = random.pick(['__metadata__', pair[0] + '\u0000', pair[0].toUpperCase(), '', 'layers.99999999999.0.norm.weight']);
  } else {
    const pair = pairs[random.below(pairs.length)]!;
    pair[1] = randomValue(random, pair[1]);
  }
}

/** Points every `data_offsets` in the tree at a random other entry's range, shifted or negated. */
export function tangleOffsets(root: JsonNode, random: FuzzRandom): void {
  if (!isObject(root)) return;
  const entries = root.pairs.map(([, value]) => value).filter(isObject);
  const offsets = entries.map((entry) => entry.pairs.find(([key]) => key === 'data_offsets')).filter((pair) => pair !== undefined);
  if (offsets.length === 0) return;

  const victim = random.pick(offsets);
  const donor = random.pick(offsets)[1];
  if (!Array.isArray(donor) || donor.length !== 2) return;
  const [begin, end] = donor as [number, number];
  victim[1] = random.pick([
    [begin, end],
    [begin + 1, end + 1],
    [-begin - 1, end],
    [end, begin],
    [begin, end + 4096],
    [Math.max(0, begin - 2), end - 2],
  ]);
}
