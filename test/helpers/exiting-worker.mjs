// A Worker entry for the crash test: the real one, whose thread exits as soon as a forward call has started.
import { parentPort } from 'node:worker_threads';
import '../../dist/runtime/worker.js';

parentPort.on('message', (message) => {
  if (message?.path?.[0] === 'forward') process.exit(3);
});
