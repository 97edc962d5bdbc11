import { pickDispatchOptions } from '../../dispatch/dispatcher.js';
import { OmninetError } from '../../errors.js';
import { readSafetensors } from '../../io/safetensors.js';
import { checkpointFromFile } from '../checkpoint.js';
import type { OmninetConfig } from '../config.js';
import type { DecodeStepOptions, DecoderOptions } from '../decoder.js';
import { readSource, type LoadOptions, type LoadProgress, type ModelSource } from '../load.js';
import { OmninetModel, type ForwardOptions } from '../model.js';
import { throwIfAborted } from '../op-scope.js';
import { DEFAULT_LANGUAGE_MODEL } from './default-model.js';
import { embed, logitsOf, readLanguageModelHead, type LanguageModelHead } from './head.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import { CharTokenizer, type UnknownCharacters } from './tokenizer.js';

/** The OmniNet layers of a LanguageModel: an OmninetModel, or a RemoteModel in a Worker. */
export interface LanguageModelBody {
  readonly config: OmninetConfig;
  backend(): Promise<string>;
  forward(x: Float32Array, options: ForwardOptions): Promise<Float32Array>;
  createDecoder(options: DecoderOptions): BodyDecoder | Promise<BodyDecoder>;
  dispose(): void;
}

interface BodyDecoder {
  step(x: Float32Array, options?: DecodeStepOptions): Promise<Float32Array>;
  reset(): Promise<void>;
  dispose(): void;
}

export interface GenerateOptions extends SamplingOptions {
  /** Text to continue. Default: a newline, the start of a line in the training text. */
  prompt?: string;
  /** Number of tokens to generate (default 200). */
  maxTokens?: number;
  /** Handling of prompt characters outside the vocabulary (default 'error'). */
  unknown?: UnknownCharacters;
  /** Stops the generation between two tokens with an ABORTED error. */
  signal?: AbortSignal;
  /** Called with each token as soon as it is drawn, before the iterator yields it. */
  onToken?: (token: GeneratedToken) => void;
}

export interface GeneratedToken {
  id: number;
  text: string;
  /** 0 for the first generated token. */
  index: number;
}

export interface GenerationResult {
  /** The generated text, without the prompt. */
  text: string;
  tokens: number;
  promptTokens: number;
  /** Time to read the prompt into the decoder. */
  promptSeconds: number;
  /** Time from the first drawn token to the last. */
  generateSeconds: number;
  tokensPerSecond: number;
  backend: string;
  /** The seed the sampler used (the given one, or the random one it chose). */
  seed: number;
}

export const DEFAULT_MAX_TOKENS = 200;

/**
 * A character-level language model: token and position embeddings and the output head run on the
 * host in float64; the OmniNet layers run on the model's backend. Generation feeds one position at
 * a time through the decoder. When the context reaches maxSeqLen (the positions the model was
 * trained on), the decoder restarts from the last maxSeqLen / 2 tokens.
 */
export class LanguageModel {
  readonly tokenizer: CharTokenizer;
  readonly config: OmninetConfig;
  readonly maxSeqLen: number;
  /** `__metadata__.language_model` of the checkpoint: vocabulary, corpus, training record. */
  readonly metadata: Record<string, unknown>;
  private readonly body: LanguageModelBody;
  private readonly head: LanguageModelHead;
  private disposed = false;

  /** Use loadLanguageModel() or `worker.loadLanguageModel()`. */
  constructor(body: LanguageModelBody, head: LanguageModelHead) {
    this.body = body;
    this.head = head;
    this.config = body.config;
    this.tokenizer = new CharTokenizer(head.vocabulary);
    this.maxSeqLen = head.maxSeqLen;
    this.metadata = head.metadata;
  }

  /** Name of the backend the OmniNet layers run on. */
  backend(): Promise<string> {
    return this.body.backend();
  }

  /** Runs a whole prompt (at most maxSeqLen tokens) in one forward; returns logits [tokens, vocab]. */
  async logits(prompt: string | readonly number[], options: { unknown?: UnknownCharacters; signal?: AbortSignal } = {}): Promise<Float32Array> {
    this.assertAlive();
    const tokens = typeof prompt === 'string' ? this.tokenizer.encode(prompt, options) : this.checkTokens(prompt);
    if (tokens.length === 0 || tokens.length > this.maxSeqLen) {
      throw new OmninetError('INVALID_ARGUMENT', `logits() takes 1 to ${this.maxSeqLen} tokens (the model's max_seq_len), got ${tokens.length}; split the text`);
    }

    const { dim } = this.head;
    const x = new Float32Array(tokens.length * dim);
    tokens.forEach((token, position) => embed(this.head, token, position, x.subarray(position * dim, (position + 1) * dim)));
    const y = await this.body.forward(x, { shape: [1, tokens.length, dim], signal: options.signal });

    const vocab = this.tokenizer.size;
    const logits = new Float32Array(tokens.length * vocab);
    for (let p = 0; p < tokens.length; p++) logits.set(logitsOf(this.head, y, p * dim), p * vocab);
    return logits;
  }

  /**
   * Generates text after `options.prompt`, yielding each token as it is drawn; the iterator's
   * return value sums the run up. Breaking out of the loop frees the decoder.
   */
  async *generate(options: GenerateOptions = {}): AsyncGenerator<GeneratedToken, GenerationResult, undefined> {
    this.assertAlive();
    const { prompt, maxTokens, unknown, signal, onToken, ...sampling } = checkGenerateOptions(options);
    const sampler = new Sampler(sampling);
    const promptTokens = this.promptTokens(prompt, unknown);
    const backend = await this.body.backend();

    const { dim } = this.head;
    const x = new Float32Array(dim);
    const decoder = await this.body.createDecoder({ batch: 1 });
    try {
      // history: every token so far, prompt included; position: the next one the decoder reads.
      const history = [...promptTokens];
      let position = 0;
      let y: Float32Array = new Float32Array(dim);
      const read = async (token: number): Promise<void> => {
        throwIfAborted(signal, 'generate');
        // step() transfers its input when the decoder lives in a Worker, so give it a copy.
        y = await decoder.step(embed(this.head, token, position, x).slice(), { signal });
        position++;
      };

      const promptStart = performance.now();
      for (const token of promptTokens.slice(-this.maxSeqLen)) await read(token);
      const generateStart = performance.now();

      let text = '';
      for (let index = 0; index < maxTokens; index++) {
        const logits = logitsOf(this.head, y);
        const bad = logits.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) throw new OmninetError('NON_FINITE', `logit ${bad} is ${logits[bad]} at generated token ${index}; the weights overflow float32`);

        const id = sampler.sample(logits);
        const token = { id, text: this.tokenizer.vocabulary[id], index };
        history.push(id);
        text += token.text;
        onToken?.(token);
        yield token;
        if (index + 1 === maxTokens) break;

        if (position < this.maxSeqLen) {
          await read(id);
        } else {
          // The learned positions end here: continue from the last half of the context.
          await decoder.reset();
          position = 0;
          for (const earlier of history.slice(-Math.floor(this.maxSeqLen / 2))) await read(earlier);
        }
      }

      const end = performance.now();
      const generateSeconds = (end - generateStart) / 1000;
      return {
        text,
        tokens: maxTokens,
        promptTokens: promptTokens.length,
        promptSeconds: (generateStart - promptStart) / 1000,
        generateSeconds,
        tokensPerSecond: generateSeconds > 0 ? maxTokens / generateSeconds : 0,
        backend,
        seed: sampler.seed,
      };
    } finally {
      decoder.dispose();
    }
  }

  /** Runs generate() to its end and returns the summary with the whole text. */
  async generateText(options: GenerateOptions = {}): Promise<GenerationResult> {
    const tokens = this.generate(options);
    for (;;) {
      const next = await tokens.next();
      if (next.done) return next.value;
    }
  }

  /** Frees the OmniNet layers' backend memory (or the Worker's copy); later calls fail with DISPOSED. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.body.dispose();
  }

  private promptTokens(prompt: string | undefined, unknown: UnknownCharacters | undefined): number[] {
    if (prompt !== undefined && prompt.length > 0) return this.tokenizer.encode(prompt, { unknown });
    if (!this.tokenizer.vocabulary.includes('\n')) {
      throw new OmninetError('INVALID_ARGUMENT', 'the prompt is empty and the vocabulary has no newline to start from; pass a prompt');
    }
    return this.tokenizer.encode('\n');
  }

  private checkTokens(tokens: readonly number[]): number[] {
    return tokens.map((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= this.tokenizer.size) {
        throw new OmninetError('INVALID_ARGUMENT', `token ${i} is ${id}; ids must be integers in [0, ${this.tokenizer.size})`);
      }
      return id;
    });
  }

  private assertAlive(): void {
    if (this.disposed) throw new OmninetError('DISPOSED', 'this language model was disposed; load it again');
  }
}

const GENERATE_OPTION_KEYS = ['prompt', 'maxTokens', 'unknown', 'signal', 'onToken', 'temperature', 'topK', 'topP', 'seed'];

function checkGenerateOptions(options: GenerateOptions): GenerateOptions & { maxTokens: number } {
  for (const key of Object.keys(options ?? {})) {
    if (!GENERATE_OPTION_KEYS.includes(key)) {
      throw new OmninetError('INVALID_ARGUMENT', `unknown generate option "${key}"; known options: ${GENERATE_OPTION_KEYS.join(', ')}`);
    }
  }
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > 1_000_000) {
    throw new OmninetError('INVALID_ARGUMENT', `maxTokens must be an integer from 1 to 1000000, got ${maxTokens}`);
  }
  if (options.prompt !== undefined && typeof options.prompt !== 'string') {
    throw new OmninetError('INVALID_ARGUMENT', `prompt must be a string, got ${typeof options.prompt}`);
  }
  return { ...options, maxTokens };
}

/** Reads the checkpoint's embeddings and head on the host, and returns the file for the layers. */
export function readLanguageModelFile(bytes: Uint8Array, source: string, options: LoadOptions = {}) {
  const file = readSafetensors(bytes, { source, skip: (name) => name.endsWith('calls_since_last_redraw') });
  const { config, parameters } = checkpointFromFile(file, source, options.config, { allowNonFinite: options.allowNonFinite });
  if (config.variant === 'omninet') {
    throw new OmninetError('INVALID_CHECKPOINT', `${source} is variant omninet, which sees later positions; a language model needs omninet-causal-omni or omninet-causal-axial`);
  }
  return { config, parameters, head: readLanguageModelHead(file, config, source) };
}

/**
 * Loads a language-model checkpoint (by default the embedded one) to run in this thread. Options
 * as for loadModel(); the backend applies to the OmniNet layers.
 */
export async function loadLanguageModel(source: ModelSource = DEFAULT_LANGUAGE_MODEL, options: LoadOptions = {}): Promise<LanguageModel> {
  const progress: LoadProgress = { bytesRead: 0, bytesTotal: null, tensorsUploaded: 0, tensorsTotal: 0 };
  const { bytes, name } = await readSource(source, (read, total) => {
    progress.bytesRead = read;
    progress.bytesTotal = total;
    options.onProgress?.({ ...progress });
  });

  const { config, parameters, head } = readLanguageModelFile(bytes, name, options);
  const body = new OmninetModel(config, parameters, pickDispatchOptions(options));
  await body.init((uploaded, total) => {
    progress.tensorsUploaded = uploaded;
    progress.tensorsTotal = total;
    options.onProgress?.({ ...progress });
  });
  return new LanguageModel(body, head);
}
