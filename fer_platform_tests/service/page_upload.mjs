// Drives the search page in headless Chromium: types the key, chooses an image, waits for the results.
// usage: node page_upload.mjs URL KEY IMAGE SCREENSHOT [SPACE]
//   -> prints {"results": [...], "prediction": "...", "scores": [[emotion, width], ...]}
import { chromium } from "playwright-core";

const [url, key, image, screenshot, space = "seed"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.fill("#key", key);
  await page.dispatchEvent("#key", "change");
  await page.selectOption("#space", space);
  await page.setInputFiles("#file", image);
  await page.waitForFunction(() => {
    const imgs = [...document.querySelectorAll("figure.result img")];
    return imgs.length >= Number(document.getElementById("k").value) && imgs.every((img) => img.complete && img.naturalWidth > 0);
  }, null, { timeout: 60000 });
  const results = await page.$$eval("figure.result figcaption", (els) => els.map((e) => e.textContent));
  const prediction = await page.textContent("#prediction");
  const scores = await page.$$eval("#scores .score", (bars) =>
    bars.map((bar) => [bar.previousElementSibling.textContent, parseFloat(bar.style.width)]));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ results, prediction, scores }));
} finally {
  await browser.close();
}
