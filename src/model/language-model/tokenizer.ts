import { OmninetError } from '../../errors.js';

/** Handling of a character that is not in the vocabulary, in encode(). */
export type UnknownCharacters = 'error' | 'replace';

export interface EncodeOptions {
  /**
   * 'error' (default) raises INVALID_ARGUMENT naming the character; 'replace' maps it to the
   * tokenizer's `replacement` (a space when the vocabulary has one).
   */
  unknown?: UnknownCharacters;
}

/** A character-level tokenizer: token id i is the i-th entry of the vocabulary (one code point each). */
export class CharTokenizer {
  readonly vocabulary: readonly string[];
  /** The character that replaces unknown ones under `unknown: 'replace'`, or null when none fits. */
  readonly replacement: string | null;
  private readonly ids: Map<string, number>;

  constructor(vocabulary: readonly string[]) {
    this.ids = new Map();
    vocabulary.forEach((char, id) => {
      if ([...char].length !== 1) {
        throw new OmninetError('INVALID_CHECKPOINT', `vocabulary entry ${id} is ${JSON.stringify(char)}; each entry of a character-level vocabulary must be a single character`);
      }
      if (this.ids.has(char)) throw new OmninetError('INVALID_CHECKPOINT', `vocabulary contains ${JSON.stringify(char)} twice (entries ${this.ids.get(char)} and ${id})`);
      this.ids.set(char, id);
    });
    this.vocabulary = vocabulary;
    this.replacement = this.ids.has(' ') ? ' ' : null;
  }

  get size(): number {
    return this.vocabulary.length;
  }

  /** Returns the token ids of `text`, one per code point. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const unknown = options.unknown ?? 'error';
    if (unknown !== 'error' && unknown !== 'replace') {
      throw new OmninetError('INVALID_ARGUMENT', `unknown must be 'error' or 'replace', got ${JSON.stringify(unknown)}`);
    }

    const tokens: number[] = [];
    let position = 0;
    for (const char of text) {
      let id = this.ids.get(char);
      if (id === undefined && unknown === 'replace' && this.replacement !== null) id = this.ids.get(this.replacement);
      if (id === undefined) throw this.unknownError(char, position, unknown);
      tokens.push(id);
      position++;
    }
    return tokens;
  }

  /** Returns the text of token ids; raises on an id outside the vocabulary. */
  decode(tokens: Iterable<number>): string {
    let text = '';
    for (const id of tokens) {
      const char = Number.isInteger(id) ? this.vocabulary[id] : undefined;
      if (char === undefined) throw new OmninetError('INVALID_ARGUMENT', `token id ${id} is outside the vocabulary of ${this.size} characters`);
      text += char;
    }
    return text;
  }

  private unknownError(char: string, position: number, unknown: UnknownCharacters): OmninetError {
    const codePoint = `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    const fix =
      unknown === 'replace'
        ? 'remove it (the vocabulary has no space to replace it with)'
        : `remove it, or replace unknown characters with a space (API: unknown: 'replace'; CLI: --replace-unknown)`;
    return new OmninetError(
      'INVALID_ARGUMENT',
      `character ${JSON.stringify(char)} (${codePoint}) at position ${position} of the prompt is not in the model's vocabulary of ${this.size} characters; ${fix}`,
    );
  }
}
