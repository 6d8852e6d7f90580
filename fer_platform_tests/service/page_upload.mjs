// Drives the search page in headless Chromium: types the key, chooses an image, waits for the results.
// usage: node page_upload.mjs URL KEY IMAGE SCREENSHOT [SPACE]
//   -> prints {"results": [...], "prediction": "...", "scores": [[emotion, width], ...]}
import { launch, pageState } from "./page_browser.mjs";

const [url, key, image, screenshot, space = "seed"] = process.argv.slice(2);
const browser = await launch();
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
  const { results, prediction, scores } = await pageState(page);
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ results, prediction, scores }));
} finally {
  await browser.close();
}
