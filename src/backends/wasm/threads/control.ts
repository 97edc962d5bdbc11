// Layout of the shared control buffer through which the calling thread hands tasks to the pool
// workers. Each worker owns 8 Int32 words and ARGUMENT_SLOTS Float64 arguments, and
// worker-source.ts reads the same layout.

/** Int32 words per worker: REQUEST, DONE, FAILED, KERNEL, ARGUMENT_COUNT and 3 spare. */
export const WORDS_PER_WORKER = 8;

/** Index of the request counter: the calling thread increments it to post a task, and stores −1 to stop the worker. */
export const REQUEST = 0;

/** Index of the last request the worker finished; the calling thread waits until it equals REQUEST. */
export const DONE = 1;

/** Index of the flag that the worker sets to 1 when its kernel threw (the module aborted). */
export const FAILED = 2;

/** Index of the kernel to run, as a position in KERNEL_NAMES. */
export const KERNEL = 3;

/** Index of the number of arguments the kernel takes. */
export const ARGUMENT_COUNT = 4;

/** Arguments per task. Every kernel argument (a pointer, a count or a float32) is exact as a float64. */
export const ARGUMENT_SLOTS = 16;

/** Byte offsets of one worker's words and arguments in a control buffer for `workers` workers. */
export function controlOffsets(workers: number, worker: number): { wordOffset: number; argumentOffset: number } {
  const wordBytes = workers * WORDS_PER_WORKER * 4;
  const argumentBase = Math.ceil(wordBytes / 8) * 8;
  return { wordOffset: worker * WORDS_PER_WORKER * 4, argumentOffset: argumentBase + worker * ARGUMENT_SLOTS * 8 };
}

/** Size in bytes of the control buffer for `workers` workers. */
export function controlBytes(workers: number): number {
  return controlOffsets(workers, workers).argumentOffset;
}
