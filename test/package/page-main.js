// A page's script: imported through the import map of page.html, or bundled by Rollup for
// bundled.html. It publishes the report as window.omninetReport for the package test to read.
import * as omninet from 'omninet';
import { runChecks } from './checks.js';

const source = 'omninet-01.safetensors';
const cases = ['thread', 'worker'].flatMap((place) => ['wasm', 'webgpu'].map((backend) => ({ place, backend })));

window.omninetReport = fetch(source)
  .then((response) => response.arrayBuffer())
  .then((bytes) => runChecks(omninet, { source, fixtureBytes: new Uint8Array(bytes), cases }))
  .catch((error) => ({ error: `${error?.name}: ${error?.message}` }));
