/* Live parts of the pages: each part marked data-live="NAME" is replaced by the same part of a fresh
   copy of the page every few seconds. The pages read without this script. */
"use strict";

const FINISHED = ["successful", "failed", "dismissed"];

function jobStatus(root) {
  const part = root.querySelector('[data-live="job"]');
  return part ? part.dataset.status : null;
}

function refreshParts(seconds, names, jobPage) {
  const startedUnfinished = jobPage && !FINISHED.includes(jobStatus(document));
  if (jobPage && !startedUnfinished) return;
  async function tick() {
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" }, cache: "no-store" });
      if (response.ok) {
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        for (const name of names) {
          const now = document.querySelector(`[data-live="${name}"]`);
          const next = fresh.querySelector(`[data-live="${name}"]`);
          if (now && next) now.replaceWith(document.importNode(next, true));
        }
        if (jobPage && FINISHED.includes(jobStatus(document))) {
          location.reload(); // the results, the map and the cost appear with the finished page
          return;
        }
      }
    } catch (error) {
      console.warn("refresh failed", error);
    }
    setTimeout(tick, seconds * 1000);
  }
  setTimeout(tick, seconds * 1000);
}

function dismissButtons() {
  for (const button of document.querySelectorAll("button.dismiss")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      if (!window.confirm("Dismiss this job? A running job stops; its results are deleted.")) return;
      button.disabled = true;
      const response = await fetch(button.dataset.url, { method: "DELETE", headers: { Accept: "application/json" } });
      if (!response.ok) {
        let detail = `HTTP ${response.status}`;
        try { detail = (await response.json()).detail || detail; } catch (error) { /* not JSON */ }
        window.alert(`Not dismissed: ${detail}`);
        button.disabled = false;
        return;
      }
      location.reload();
    });
  }
}
