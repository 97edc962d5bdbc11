// Source of a thread-pool worker, as a string, so that it starts from `eval` (Node) or a blob:
// URL (browsers, Deno) and no bundler has to find and emit a separate worker file.
//
// The worker receives the compiled threads build of the kernel module, the shared memory and the
// control buffer in one message. It instantiates the module on that memory and replies
// `{ ready: true }`. Then it blocks in Atomics.wait until the calling thread posts a task in its
// control words (layout in control.ts), and it never returns to its event loop.

/** The part both sources share. Its word indices (REQUEST … ARGUMENT_COUNT) match control.ts. */
const BODY = `
const REQUEST = 0, DONE = 1, FAILED = 2, KERNEL = 3, ARGUMENT_COUNT = 4;

function start(post, message) {
  const { module, memory, control, wordOffset, argumentOffset, argumentSlots, kernelNames } = message;
  const imports = { env: { memory, abort() { throw new Error('the WebAssembly kernel module aborted'); } } };
  WebAssembly.instantiate(module, imports).then(
    (instance) => {
      post({ ready: true });
      serve(instance.exports, new Int32Array(control, wordOffset, 8), new Float64Array(control, argumentOffset, argumentSlots), kernelNames);
    },
    (error) => post({ error: String(error) }),
  );
}

function serve(kernels, words, args, kernelNames) {
  let seen = 0;
  for (;;) {
    Atomics.wait(words, REQUEST, seen);
    const request = Atomics.load(words, REQUEST);
    if (request < 0) return;
    seen = request;

    let failed = 0;
    try {
      const kernel = kernels[kernelNames[words[KERNEL]]];
      kernel(...Array.from(args.subarray(0, words[ARGUMENT_COUNT])));
    } catch {
      failed = 1;
    }
    words[FAILED] = failed;
    Atomics.store(words, DONE, request);
    Atomics.notify(words, DONE);
  }
}
`;

/** Worker source for Node's `new Worker(source, { eval: true })`, which runs it as CommonJS. */
export const NODE_WORKER_SOURCE = `${BODY}
const { parentPort } = require('node:worker_threads');
parentPort.once('message', (message) => start((reply) => parentPort.postMessage(reply), message));
`;

/** Worker source for a module Worker started from a blob: URL (browsers and Deno). */
export const WEB_WORKER_SOURCE = `${BODY}
self.addEventListener('message', (event) => start((reply) => self.postMessage(reply), event.data), { once: true });
`;
