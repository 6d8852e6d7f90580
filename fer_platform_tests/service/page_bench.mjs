// The search page's time from choosing a file to every result shown (images complete), old page vs new page,
// alternating, in ONE headless Chromium against ONE running service; prints one JSON line.
// usage: node page_bench.mjs URL KEY '{"before_html": FILE, "before_csp": CSP, "images": [PNG...], "runs": N, "k": K}'
// "before" is the page in before_html, served in place of the service's own page (page.route on "/", with the
// CSP the service would compute for it); "after" is the page the service serves. Every measurement on a fresh
// page with the key already entered; the clock runs from the file input's change event to the frame on which
// every result image is complete ("total"), and to the end of the last upload's answer ("answered", from
// the Resource Timing entries).
import { readFileSync } from "node:fs";
import { launch } from "./page_browser.mjs";

const [url, key, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const beforeHtml = readFileSync(config.before_html, "utf8");
const browser = await launch();

async function measure(variant, image) {
  const page = await browser.newPage();
  try {
    if (variant === "before") {
      await page.route(url, (route) => route.fulfill({
        status: 200, contentType: "text/html; charset=utf-8", body: beforeHtml,
        headers: { "Content-Security-Policy": config.before_csp },
      }));
    }
    const posts = [];
    page.on("request", (r) => { if (r.method() === "POST") posts.push(new URL(r.url()).pathname); });
    await page.goto(url);
    await page.fill("#key", key);
    await page.dispatchEvent("#key", "change");
    await page.fill("#k", String(config.k));
    if (await page.$("#emotion")) {  // the new page loads the emotions and the upload limit for the key
      await page.waitForFunction(() => document.querySelectorAll("#emotion option").length > 1);
    }
    await page.evaluate(() => document.getElementById("file").addEventListener("change", () => {
      window.chosenAt = performance.now();
    }, { capture: true }));
    await page.setInputFiles("#file", image);
    const ms = await (await page.waitForFunction((k) => {
      const imgs = [...document.querySelectorAll("figure.result img")];
      const shown = imgs.length >= k && imgs.every((img) => img.complete && img.naturalWidth > 0);
      if (!shown) return false;
      const uploads = performance.getEntriesByType("resource").filter((e) => /\/(search|predict)\b/.test(e.name));
      const answered = Math.max(...uploads.map((e) => e.responseEnd));
      return { total: performance.now() - window.chosenAt, answered: answered - window.chosenAt };
    }, config.k, { timeout: 60000, polling: "raf" })).jsonValue();
    const error = await page.textContent("#error");
    if (error) throw new Error(`${variant}: ${error}`);
    return { ms, posts };
  } finally {
    await page.close();
  }
}

try {
  const out = { before: [], after: [], posts: {} };
  for (const variant of ["before", "after"]) await measure(variant, config.images[0]);  // warm-up, not counted
  for (let i = 0; i < config.runs; i++) {
    const image = config.images[i % config.images.length];
    for (const variant of i % 2 ? ["after", "before"] : ["before", "after"]) {
      const { ms, posts } = await measure(variant, image);
      out[variant].push(ms);
      out.posts[variant] = posts;
    }
  }
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
