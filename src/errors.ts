/** Error codes shared by the API and the CLI. */
export type OmninetErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_CHECKPOINT'
  | 'INVALID_NPY'
  | 'SHAPE_MISMATCH'
  | 'LIMIT_EXCEEDED'
  | 'BACKEND_UNAVAILABLE'
  | 'DEVICE_LOST'
  | 'OUT_OF_MEMORY'
  | 'DISPOSED'
  | 'WORKER_FAILED'
  | 'NON_FINITE'
  | 'IO_ERROR'
  | 'ABORTED';

/** An error the library raises on purpose: its message names the value and the fix. */
export class OmninetError extends Error {
  readonly code: OmninetErrorCode;

  constructor(code: OmninetErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OmninetError';
    this.code = code;
  }
}
