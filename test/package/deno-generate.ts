// The package test runs this from its temporary project: `deno run --allow-read deno-generate.ts`.
// It generates from the embedded language model in the thread and in a Worker, with one seed.
import { createWorker, loadLanguageModel } from 'npm:omninet';

const options = { prompt: 'And God said', maxTokens: 30, seed: 9 };
const model = await loadLanguageModel(undefined, { backend: 'wasm' });
const thread = await model.generateText(options);
model.dispose();

const worker = await createWorker({ backend: 'wasm' });
const remote = await worker.loadLanguageModel();
const inWorker = await remote.generateText(options);
await worker.terminate();

console.log(JSON.stringify({ thread: thread.text, worker: inWorker.text, backend: thread.backend }));
