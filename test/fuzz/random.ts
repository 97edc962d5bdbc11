/** A seeded generator (mulberry32) so that every fuzz case can be replayed from its seed. */
export class FuzzRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Returns a uniform draw in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns an integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** Integers that sit on the edges readers tend to get wrong. */
export const INTERESTING_INTEGERS: readonly number[] = [
  0, 1, 2, 3, 7, 8, -1, -2, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40,
  2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e15, 1e21, -(2 ** 31), -(2 ** 53),
];

/** JSON number literals for edits: huge, negative, fractional, exponent forms and overflow to infinity. */
export const INTERESTING_NUMBER_LITERALS: readonly string[] = [
  ...INTERESTING_INTEGERS.map(String),
  '0.5', '-0.5', '1.5', '-0', '1e308', '1e999', '-1e999', '4e-324', '1E2', '9007199254740993', '18446744073709551616',
  '123456789012345678901234567890',
];
