// Front end of bench/browser.html: runs the benchmark suite with the form's choices, shows the
// progress, then the HTML report and a link to the JSON result. window.omninetBench contains the
// last result (or { error }) for scripted runs.
import { renderReport, runBenchmarks } from '../dist/bench/index.js';

const form = document.getElementById('form');
const status = document.getElementById('status');
const download = document.getElementById('download');
const report = document.getElementById('report');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  form.querySelector('button').disabled = true;
  try {
    const result = await runBenchmarks({
      backends: data.getAll('backend'),
      ops: data.has('ops'),
      forwards: data.has('forwards'),
      quick: data.has('quick'),
      command: `browser: ${location.href}`,
      onProgress: ({ done, total, label }) => {
        status.textContent = `${done}/${total} ${label}`;
      },
    });
    window.omninetBench = result;
    status.textContent = `done in ${result.durationSeconds.toFixed(0)} s`;
    download.href = URL.createObjectURL(new Blob([JSON.stringify(result, null, 1)], { type: 'application/json' }));
    download.hidden = false;
    report.srcdoc = renderReport(result);
    report.hidden = false;
  } catch (error) {
    window.omninetBench = { error: String(error) };
    status.textContent = `failed: ${error}`;
  } finally {
    form.querySelector('button').disabled = false;
  }
});
