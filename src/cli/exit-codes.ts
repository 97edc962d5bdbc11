import type { OmninetErrorCode } from '../errors.js';

/**
 * Exit codes of the `omninet` command, one per kind of fix the user needs (docs/errors.md lists
 * them). 2 keeps its long-standing meaning: the command line or an input file is wrong.
 */
export const EXIT_OK = 0;
/** An exception that is not an OmninetError: a bug to report. */
export const EXIT_INTERNAL = 1;
export const EXIT_USAGE = 2;

export const EXIT_CODES: Record<OmninetErrorCode, number> = {
  INVALID_ARGUMENT: EXIT_USAGE,
  INVALID_CHECKPOINT: EXIT_USAGE,
  INVALID_NPY: EXIT_USAGE,
  SHAPE_MISMATCH: EXIT_USAGE,
  IO_ERROR: EXIT_USAGE,
  // The input is valid but too large for the backend: split the batch or shorten the sequence.
  LIMIT_EXCEEDED: 3,
  OUT_OF_MEMORY: 3,
  // NaN or infinity in the weights or produced by an op.
  NON_FINITE: 4,
  // The machine lacks what was asked for: choose another backend.
  BACKEND_UNAVAILABLE: 5,
  DEVICE_LOST: 5,
  // The run was stopped: a Worker failed, a model was disposed, or a signal aborted it.
  WORKER_FAILED: 6,
  DISPOSED: 6,
  ABORTED: 6,
};
