// Headless Chromium for the page drivers (page_scenarios.mjs, page_bench.mjs).
import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync"],
  });
}

// The page's inline state once a search or a refusal has finished: what the tests look at.
export async function pageState(page) {
  return page.evaluate(() => {
    const figures = [...document.querySelectorAll("figure.result")];
    return {
      results: figures.map((f) => f.querySelector("figcaption").textContent),
      ids: figures.map((f) => Number(f.dataset.id)),
      images_complete: figures.every((f) => { const img = f.querySelector("img"); return img.complete && img.naturalWidth > 0; }),
      focusable: figures.every((f) => f.tabIndex === 0 && f.getAttribute("role") === "button"),
      prediction: document.getElementById("prediction").textContent,
      face: document.getElementById("face").textContent,
      error: document.getElementById("error").textContent,
      query_shown: !document.getElementById("query").hidden,
      scores: [...document.querySelectorAll("#scores .score")].map((bar) =>
        [bar.previousElementSibling.textContent, parseFloat(bar.style.width)]),
    };
  });
}
