// The omninet browser demo: loads the package's browser build, runs the embedded language model
// in a Worker and streams the generated text into the page.
//
// document.body.dataset.state is the page's state, which the tests read: loading, ready,
// generating, done, stopped or error.

const BUILD_URL = new URL('../dist/browser/index.js', import.meta.url);

const $ = (id) => document.getElementById(id);

const ui = {
  form: $('form'),
  prompt: $('prompt'),
  backend: $('backend'),
  maxTokens: $('max-tokens'),
  temperature: $('temperature'),
  topK: $('top-k'),
  topP: $('top-p'),
  seed: $('seed'),
  replaceUnknown: $('replace-unknown'),
  generate: $('generate'),
  stop: $('stop'),
  status: $('status'),
  error: $('error'),
  outputPrompt: $('output-prompt'),
  outputGenerated: $('output-generated'),
  statBackend: $('stat-backend'),
  statTokens: $('stat-tokens'),
  statSpeed: $('stat-speed'),
  statPrompt: $('stat-prompt'),
  statSeed: $('stat-seed'),
};

/** The imported browser build, once loaded. */
let omninet = null;

/** The Worker and model for one backend choice: { policy, ready: Promise<{ worker, model, backend }> }. */
let session = null;

/** The AbortController of the generation in progress, or null. */
let running = null;

/** Tokens generated so far in the current (or last) run. */
let generatedTokens = 0;

// Page state and messages

function setState(state) {
  document.body.dataset.state = state;
}

function setStatus(text) {
  ui.status.textContent = text;
}

function showError(error) {
  const message = error instanceof Error ? error.message : String(error);
  const hint = errorHint(error);
  ui.error.textContent = hint ? `${message}. ${hint}` : message;
  ui.error.hidden = false;
  setStatus('Failed.');
  setState('error');
  console.error(error);
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = '';
  ui.prompt.removeAttribute('aria-invalid');
}

/** Returns a next step for the errors a visitor can fix from the page, or ''. */
function errorHint(error) {
  if (error?.code === 'INVALID_ARGUMENT' && /prompt/.test(error.message)) {
    ui.prompt.setAttribute('aria-invalid', 'true');
    return 'Edit the prompt, or tick "Replace characters outside the model\'s vocabulary".';
  }
  return '';
}

function formatMegabytes(bytes) {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

// Loading the library, the Worker and the model

async function importLibrary() {
  if (omninet) return omninet;
  try {
    omninet = await import(BUILD_URL.href);
  } catch (error) {
    throw new Error(`could not load the browser build ${BUILD_URL.pathname} (${error.message}). Run \`npm run build\` and reload the page`, { cause: error });
  }
  return omninet;
}

/** Starts a Worker on `policy` and loads the embedded language model into it. */
async function openSession(policy) {
  const { createWorker } = await importLibrary();

  setState('loading');
  ui.statBackend.textContent = '–';
  setStatus(`Starting a Worker (backend ${policy})…`);
  const worker = await createWorker({ backend: policy });

  try {
    setStatus('Loading the model…');
    const onProgress = ({ bytesRead, bytesTotal }) => {
      const total = bytesTotal ? ` of ${formatMegabytes(bytesTotal)}` : '';
      setStatus(`Loading the model… ${formatMegabytes(bytesRead)}${total}`);
    };
    const model = await worker.loadLanguageModel(undefined, { onProgress });
    const backend = await model.backend();
    return { worker, model, backend };
  } catch (error) {
    await worker.terminate();
    throw error;
  }
}

async function closeSession(ready) {
  const loaded = await ready.catch(() => null);
  if (!loaded) return;
  loaded.model.dispose();
  await loaded.worker.terminate();
}

/**
 * Returns the loaded model for `policy`, starting it when the backend choice changed. A Worker's
 * backend is fixed, so another choice terminates the old Worker and starts a new one.
 */
function ensureSession(policy) {
  if (session?.policy === policy) return session.ready;

  const previous = session?.ready;
  const ready = (async () => {
    if (previous) await closeSession(previous);
    return openSession(policy);
  })();
  session = { policy, ready };

  // A failed load is not kept, so that the next attempt starts afresh.
  ready.catch(() => {
    if (session?.ready === ready) session = null;
  });
  return ready;
}

/** Loads the model for the selected backend ahead of the first Generate. */
async function preload() {
  clearError();
  try {
    const { backend } = await ensureSession(ui.backend.value);
    if (running) return;
    setState('ready');
    setStatus(`Model loaded on ${backend}. Ready.`);
    ui.statBackend.textContent = backend;
  } catch (error) {
    showError(error);
  }
}

// Reading the settings

/** Reads a number input. Returns undefined for an empty optional input and raises on invalid text. */
function readNumber(input, label, { integer = false, optional = false } = {}) {
  if (input.value.trim() === '' && optional) return undefined;

  const value = Number(input.value);
  const valid = input.value.trim() !== '' && Number.isFinite(value) && (!integer || Number.isInteger(value));
  if (!valid) {
    input.focus();
    throw new Error(`${label} must be ${integer ? 'a whole number' : 'a number'}, got "${input.value}"`);
  }
  return value;
}

function readSettings() {
  return {
    policy: ui.backend.value,
    prompt: ui.prompt.value,
    maxTokens: readNumber(ui.maxTokens, 'Max tokens', { integer: true }),
    temperature: readNumber(ui.temperature, 'Temperature'),
    topK: readNumber(ui.topK, 'Top-k', { integer: true }),
    topP: readNumber(ui.topP, 'Top-p'),
    seed: readNumber(ui.seed, 'Seed', { integer: true, optional: true }),
    unknown: ui.replaceUnknown.checked ? 'replace' : 'error',
  };
}

// Output and statistics

function resetOutput(prompt) {
  ui.outputPrompt.textContent = prompt;
  ui.outputGenerated.textContent = '';
  generatedTokens = 0;
  ui.statTokens.textContent = '0';
  ui.statSpeed.textContent = '–';
  ui.statPrompt.textContent = '–';
  ui.statSeed.textContent = '–';
}

/** Returns tokens per second since the first token, which is left out because it includes the prompt. */
function liveSpeed(tokens, firstTokenAt) {
  const seconds = (performance.now() - firstTokenAt) / 1000;
  return tokens > 1 && seconds > 0 ? (tokens - 1) / seconds : null;
}

function showProgress(tokens, maxTokens, speed) {
  ui.statTokens.textContent = `${tokens} / ${maxTokens}`;
  if (speed !== null) ui.statSpeed.textContent = speed.toFixed(1);
  setStatus(`Generating… ${tokens} of ${maxTokens} tokens`);
}

function showResult(result) {
  ui.statBackend.textContent = result.backend;
  ui.statTokens.textContent = String(result.tokens);
  ui.statSpeed.textContent = result.tokensPerSecond.toFixed(1);
  ui.statPrompt.textContent = `${result.promptSeconds.toFixed(2)} s`;
  ui.statPrompt.title = `${result.promptTokens} prompt tokens`;
  ui.statSeed.textContent = String(result.seed);
  setStatus(`Done: ${result.tokens} tokens in ${result.generateSeconds.toFixed(2)} s.`);
}

// Generating

function setRunning(controller) {
  running = controller;
  ui.generate.disabled = controller !== null;
  ui.stop.disabled = controller === null;
  ui.backend.disabled = controller !== null;
}

function isAbort(error) {
  return error?.code === 'ABORTED' || error?.name === 'AbortError';
}

async function streamTokens(model, settings, signal) {
  const { policy: _policy, ...options } = settings;
  const tokens = model.generate({ ...options, signal });
  let firstTokenAt = 0;

  for (;;) {
    const next = await tokens.next();
    if (next.done) return next.value;

    if (generatedTokens === 0) firstTokenAt = performance.now();
    generatedTokens++;
    ui.outputGenerated.textContent += next.value.text;
    showProgress(generatedTokens, settings.maxTokens, liveSpeed(generatedTokens, firstTokenAt));
  }
}

async function generate() {
  clearError();
  const controller = new AbortController();
  setRunning(controller);
  setState('loading');
  generatedTokens = 0;

  try {
    const settings = readSettings();
    const { model, backend } = await ensureSession(settings.policy);
    controller.signal.throwIfAborted();

    // Checks the prompt before anything is shown: an unknown character raises with its position.
    // The output then shows the prompt as the model reads it, with replaced characters.
    const promptTokens = model.tokenizer.encode(settings.prompt, { unknown: settings.unknown });
    resetOutput(model.tokenizer.decode(promptTokens));
    ui.statBackend.textContent = backend;
    if (settings.seed !== undefined) ui.statSeed.textContent = String(settings.seed);
    setState('generating');
    setStatus('Reading the prompt…');

    const result = await streamTokens(model, settings, controller.signal);
    showResult(result);
    setState('done');
  } catch (error) {
    if (!isAbort(error)) {
      // The previous run's text and numbers would read as this run's.
      resetOutput('');
      ui.statTokens.textContent = '–';
      showError(error);
    } else {
      setStatus(`Stopped after ${generatedTokens} tokens.`);
      setState('stopped');
    }
  } finally {
    setRunning(null);
  }
}

// Wiring

ui.form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!running) void generate();
});

ui.stop.addEventListener('click', () => running?.abort());

ui.backend.addEventListener('change', () => void preload());

window.addEventListener('unhandledrejection', (event) => showError(event.reason));

void preload();
