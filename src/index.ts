// Public API of the omninet package.
export { loadModel, type LoadOptions, type LoadProgress, type ModelSource } from './model/load.js';
export { OmninetModel, Omninet, OmninetCausal, type ForwardOptions, type RandomModelOptions } from './model/model.js';
export {
  LanguageModel,
  loadLanguageModel,
  DEFAULT_MAX_TOKENS,
  type GenerateOptions,
  type GeneratedToken,
  type GenerationResult,
  type LanguageModelBody,
} from './model/language-model/language-model.js';
export { DEFAULT_LANGUAGE_MODEL } from './model/language-model/default-model.js';
export { CharTokenizer, type UnknownCharacters, type EncodeOptions } from './model/language-model/tokenizer.js';
export { Sampler, DEFAULT_TEMPERATURE, type SamplingOptions } from './model/language-model/sampler.js';
export { OmninetDecoder, type DecoderOptions, type DecodeStepOptions } from './model/decoder.js';
export { resolveConfig, omniSchedule, VARIANTS, type OmninetConfig, type OmninetOptions, type Variant } from './model/config.js';
export { Dispatcher, type BackendPolicy, type DispatchOptions, type DispatchStats } from './dispatch/dispatcher.js';
export { OmninetError, type OmninetErrorCode } from './errors.js';
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export { readNpy, writeNpy } from './io/npy.js';
export type { BackendName } from './backends/backend.js';
export { createWorker, OmninetWorker, type CreateWorkerOptions } from './runtime/client.js';
export { RemoteModel, RemoteDecoder } from './runtime/remote-model.js';
export { describeRuntime, type RuntimeInfo, type Platform } from './runtime-info.js';
