import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CharTokenizer, DEFAULT_LANGUAGE_MODEL, loadLanguageModel, loadModel, OmninetError, readSafetensors, Sampler, type LanguageModel } from '../src/index.js';
import { embed, logitsOf, readLanguageModelHead } from '../src/model/language-model/head.js';
import { requireWebGpu, testedBackends } from './helpers/webgpu.js';

// Golden logits of the shipped checkpoint, written by tools/train/export.py from PyTorch in float64.
const golden = readSafetensors(readFileSync(new URL('./data/language-model/golden.safetensors', import.meta.url)));
const goldenTokens = Array.from(golden.tensors.get('tokens')!.data);
const goldenLogits = golden.tensors.get('logits')!.data as Float32Array;
const TOLERANCE = 1e-4;
const corpusWords = new Set(readFileSync(new URL('./data/language-model/words.txt', import.meta.url), 'utf8').split('\n').filter(Boolean));

function maxAbsDifference(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  for (let i = 0; i < actual.length; i++) max = Math.max(max, Math.abs(actual[i] - expected[i]));
  return max;
}

describe.each(testedBackends(['js', 'wasm', 'webgpu'] as const))('the embedded language model on %s', (backend) => {
  let model: LanguageModel;
  beforeAll(async () => {
    if (backend === 'webgpu') requireWebGpu();
    model = await loadLanguageModel(undefined, { backend });
  });
  afterAll(() => model?.dispose());

  it('matches the golden logits in one forward', async () => {
    expect(model.tokenizer.encode(golden.metadata.prompt)).toEqual(goldenTokens);
    const logits = await model.logits(golden.metadata.prompt);
    const error = maxAbsDifference(logits, goldenLogits);
    console.log(`${backend}: golden logits, one forward: max abs error ${error.toExponential(2)} (tolerance ${TOLERANCE})`);
    expect(error).toBeLessThanOrEqual(TOLERANCE);
  });

  it('matches the golden logits position by position through the decoder', async () => {
    const bytes = readFileSync(DEFAULT_LANGUAGE_MODEL);
    const body = await loadModel(bytes, { backend });
    const head = readLanguageModelHead(readSafetensors(bytes), body.config, 'kjv-char');
    const decoder = body.createDecoder({ batch: 1 });
    const vocab = head.vocabulary.length;
    const logits = new Float32Array(goldenTokens.length * vocab);
    const x = new Float32Array(head.dim);
    for (let p = 0; p < goldenTokens.length; p++) {
      const y = await decoder.step(embed(head, goldenTokens[p], p, x));
      logits.set(logitsOf(head, y), p * vocab);
    }
    decoder.dispose();
    body.dispose();

    const error = maxAbsDifference(logits, goldenLogits);
    console.log(`${backend}: golden logits, decoded: max abs error ${error.toExponential(2)} (tolerance ${TOLERANCE})`);
    expect(error).toBeLessThanOrEqual(TOLERANCE);
  });

  it('generates the same text for the same seed, and streams it', async () => {
    const streamed: string[] = [];
    const first = await model.generateText({ prompt: 'And God said', maxTokens: 40, seed: 7, onToken: (t) => streamed.push(t.text) });
    const second = await model.generateText({ prompt: 'And God said', maxTokens: 40, seed: 7 });
    expect(first.text).toHaveLength(40);
    expect(second.text).toBe(first.text);
    expect(streamed.join('')).toBe(first.text);
    expect(first.backend).toBe(backend);
    expect(first.tokensPerSecond).toBeGreaterThan(0);
  });
});

describe('text from the embedded model on wasm', () => {
  let model: LanguageModel;
  beforeAll(async () => {
    model = await loadLanguageModel(undefined, { backend: 'wasm' });
  });
  afterAll(() => model?.dispose());

  it('is mostly words of the corpus for --seed 1', async () => {
    const { text } = await model.generateText({ prompt: '\n', maxTokens: 400, seed: 1 });
    const words = text.match(/[A-Za-z]+/g) ?? [];
    const known = words.filter((word) => corpusWords.has(word));
    console.log(`seed 1: ${known.length} of ${words.length} words are in the corpus:\n${text}`);
    expect(words.length).toBeGreaterThan(40);
    expect(known.length / words.length).toBeGreaterThanOrEqual(0.8);
  });

  it('yields through an async iterator, and stops when the loop breaks', async () => {
    const seen: string[] = [];
    for await (const token of model.generate({ prompt: 'Jesus', maxTokens: 50, seed: 3 })) {
      seen.push(token.text);
      if (seen.length === 5) break;
    }
    expect(seen).toHaveLength(5);
    const whole = await model.generateText({ prompt: 'Jesus', maxTokens: 5, seed: 3 });
    expect(seen.join('')).toBe(whole.text);
  });

  it('keeps generating past max_seq_len by restarting from the last half of the context', async () => {
    const tokens = model.maxSeqLen + 20;
    const result = await model.generateText({ prompt: 'And', maxTokens: tokens, seed: 5, temperature: 0.5 });
    expect(result.text).toHaveLength(tokens);
    expect(result.tokens).toBe(tokens);
  });

  it('reads prompts longer than max_seq_len from their last max_seq_len characters', async () => {
    const long = 'And the LORD spake unto Moses, saying, '.repeat(10);
    const tail = long.slice(-model.maxSeqLen);
    const a = await model.generateText({ prompt: long, maxTokens: 10, seed: 2 });
    const b = await model.generateText({ prompt: tail, maxTokens: 10, seed: 2 });
    expect(a.text).toBe(b.text);
    expect(a.promptTokens).toBe(long.length);
  });

  it('picks the most likely token at temperature 0', async () => {
    const logits = await model.logits('And God sai');
    const last = logits.subarray(logits.length - model.tokenizer.size);
    const best = last.indexOf(Math.max(...last));
    const { text } = await model.generateText({ prompt: 'And God sai', maxTokens: 1, temperature: 0 });
    expect(text).toBe(model.tokenizer.vocabulary[best]);
  });

  it('names an unknown prompt character and the fix, or replaces it when asked', async () => {
    const error = await model.generateText({ prompt: 'Zeus™ said', maxTokens: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OmninetError);
    expect((error as OmninetError).code).toBe('INVALID_ARGUMENT');
    expect((error as Error).message).toMatch(/"™" \(U\+2122\) at position 4 .*replace/);
    const replaced = await model.generateText({ prompt: 'Zeus™ said', maxTokens: 3, unknown: 'replace', seed: 1 });
    expect(replaced.text).toHaveLength(3);
  });

  it('refuses bad generate options with the value and the fix', async () => {
    const cases: [object, RegExp][] = [
      [{ maxTokens: 0 }, /maxTokens must be an integer from 1/],
      [{ temperature: -1 }, /temperature must be a finite number ≥ 0/],
      [{ topK: 1.5 }, /topK must be an integer ≥ 0/],
      [{ topP: 0 }, /topP must be in \(0, 1\]/],
      [{ seed: -3 }, /seed must be an integer in \[0, 2\^32\)/],
      [{ maxToken: 5 }, /unknown generate option "maxToken"/],
    ];
    for (const [options, message] of cases) {
      await expect(model.generateText(options)).rejects.toThrow(message);
    }
  });

  it('aborts between tokens', async () => {
    const controller = new AbortController();
    const run = model.generateText({ maxTokens: 10_000, signal: controller.signal, onToken: (t) => t.index === 3 && controller.abort() });
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('CharTokenizer and Sampler', () => {
  it('round-trips text and rejects bad vocabularies', () => {
    const tokenizer = new CharTokenizer(['\n', ' ', 'a', 'b']);
    expect(tokenizer.decode(tokenizer.encode('ab a\n'))).toBe('ab a\n');
    expect(() => new CharTokenizer(['a', 'a'])).toThrow(/contains "a" twice/);
    expect(() => new CharTokenizer(['ab'])).toThrow(/must be a single character/);
    expect(() => tokenizer.decode([9])).toThrow(/token id 9 is outside the vocabulary of 4/);
  });

  it('draws tokens in proportion to softmax(logits / temperature)', () => {
    const logits = new Float32Array([2, 1, 0, -1]);
    const sampler = new Sampler({ temperature: 1, seed: 42 });
    const counts = [0, 0, 0, 0];
    const draws = 40_000;
    for (let i = 0; i < draws; i++) counts[sampler.sample(logits)]++;
    const weights = Array.from(logits, (l) => Math.exp(l));
    const total = weights.reduce((a, b) => a + b);
    weights.forEach((w, i) => expect(Math.abs(counts[i] / draws - w / total)).toBeLessThan(0.01));
  });

  it('cuts the tail with top-k and top-p', () => {
    const logits = new Float32Array([3, 2.9, 0, -5]);
    const topK = new Sampler({ temperature: 1, topK: 2, seed: 1 });
    const topP = new Sampler({ temperature: 1, topP: 0.5, seed: 1 });
    const seenK = new Set<number>();
    const seenP = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      seenK.add(topK.sample(logits));
      seenP.add(topP.sample(logits));
    }
    expect([...seenK].sort()).toEqual([0, 1]);
    expect([...seenP]).toEqual([0]);
  });
});
