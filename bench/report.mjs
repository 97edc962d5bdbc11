// Renders a JSON result of `omninet bench --json FILE` as a self-contained HTML page with charts.
// Usage: npm run bench:report -- RESULT.json [OUTPUT.html]   (default output: RESULT.html)
import { readFile, writeFile } from 'node:fs/promises';
import { renderReport } from '../dist/bench/report.js';

const [input, output = input?.replace(/\.json$/, '') + '.html'] = process.argv.slice(2);
if (!input) {
  console.error('usage: npm run bench:report -- RESULT.json [OUTPUT.html]');
  process.exit(2);
}
const result = JSON.parse(await readFile(input, 'utf8'));
if (result.schema !== 'omninet-bench/1') {
  console.error(`${input}: schema ${JSON.stringify(result.schema)} is not omninet-bench/1; is this a result of omninet bench --json?`);
  process.exit(2);
}
await writeFile(output, renderReport(result));
console.error(`wrote ${output}`);
