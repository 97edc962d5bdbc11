// Runs the golden fixture's forward through an installed omninet, in any runtime: Node, Deno, a
// page or a page's bundle. Plain JavaScript, since it runs from the package test's temporary project.

/**
 * Runs each case of `cases` ({ place: 'thread' | 'worker', backend }) and returns one result per
 * case: the comparison with the fixture, or the error. `source` is what loadModel receives (a
 * path or URL of the fixture); `fixtureBytes` the same file's bytes.
 */
export async function runChecks(omninet, { source, fixtureBytes, cases }) {
  const fixture = readFixture(omninet, fixtureBytes);
  const results = [];
  for (const { place, backend } of cases) {
    const started = performance.now();
    try {
      const run = place === 'worker' ? runInWorker : runInThread;
      results.push({ place, backend, ...(await run(omninet, source, backend, fixture)), ms: Math.round(performance.now() - started) });
    } catch (error) {
      results.push({ place, backend, error: `${error?.name}: ${error?.message}`, code: error?.code ?? null, ms: Math.round(performance.now() - started) });
    }
  }
  return { runtime: omninet.describeRuntime(), results };
}

async function runInThread(omninet, source, backend, fixture) {
  const model = await omninet.loadModel(source, { backend });
  try {
    const output = await model.forward(fixture.input.slice(), { shape: fixture.shape });
    return { backendUsed: await model.backend(), ...compare(output, fixture) };
  } finally {
    model.dispose();
  }
}

async function runInWorker(omninet, source, backend, fixture) {
  const worker = await omninet.createWorker({ backend });
  try {
    let progress = null;
    const model = await worker.loadModel(source, { onProgress: (p) => (progress = p) });
    const input = fixture.input.slice();
    const output = await model.forward(input, { shape: fixture.shape });
    return {
      backendUsed: await model.backend(),
      workerRuntime: worker.runtime,
      inputDetached: input.byteLength === 0,
      progress,
      ...compare(output, fixture),
    };
  } finally {
    await worker.terminate();
  }
}

function readFixture(omninet, bytes) {
  const file = omninet.readSafetensors(bytes);
  const input = file.tensors.get('__input__');
  return {
    input: input.data,
    shape: input.shape,
    expected: file.tensors.get('__output__').data,
    tolerance: JSON.parse(file.metadata.tolerance),
  };
}

/** Counts the elements outside the fixture's rule |actual - expected| <= abs + rel * |expected|. */
function compare(actual, { expected, tolerance }) {
  let maxAbs = 0;
  let failures = 0;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    maxAbs = Math.max(maxAbs, error);
    if (!(error <= tolerance.abs + tolerance.rel * Math.abs(expected[i]))) failures++;
  }
  return { length: actual.length, expectedLength: expected.length, maxAbs, failures };
}
