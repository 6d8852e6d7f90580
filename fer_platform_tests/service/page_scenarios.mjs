// Every scenario of the search page in ONE headless Chromium, against a running service; prints one JSON line.
// usage: node page_scenarios.mjs URL KEY '{"upload": PNG, "filtered": PNG, "emotion": E, "big": FILE,
//                                         "text": FILE, "broken": FILE, "screenshot": PNG}'
// Each scenario answers the page's state when it has finished (pageState) and the requests it made
// ("METHOD /path?query"), counted with page.on("request").
import { launch, pageState } from "./page_browser.mjs";

const [url, key, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const TIMEOUT = 60000;
const browser = await launch();
try {
  const page = await browser.newPage();
  const log = [];
  page.on("request", (r) => {  // requests to the server (blob: URLs of the shown images left out)
    const u = new URL(r.url());
    if (u.protocol.startsWith("http")) log.push(`${r.method()} ${u.pathname}${u.search}`);
  });
  const problems = [];  // script errors and CSP violations (the page's CSP admits its inline blocks by hash)
  page.on("pageerror", (e) => problems.push(`${e}`));
  page.on("console", (m) => { if (/Content.Security.Policy|Refused to/i.test(m.text())) problems.push(m.text()); });
  const done = () => page.$eval("#results", (el) => Number(el.dataset.done));

  // Runs action, waits for the page to finish the search it started; the state and the requests made meanwhile.
  async function scenario(action) {
    const before = await done(), first = log.length;
    await action();
    await page.waitForFunction((n) => Number(document.getElementById("results").dataset.done) > n, before,
      { timeout: TIMEOUT });
    const state = await pageState(page);
    const requests = log.slice(first);
    return { ...state, requests, posts: requests.filter((r) => r.startsWith("POST ")) };
  }
  async function setKey(value) {
    await page.fill("#key", value);
    await page.dispatchEvent("#key", "change");
  }

  await page.goto(url);
  await setKey(key);
  await page.waitForFunction(() => document.querySelectorAll("#emotion option").length > 1, null, { timeout: TIMEOUT });
  const emotions = await page.$$eval("#emotion option", (os) => os.map((o) => o.value));
  await page.selectOption("#space", "expression");

  const out = { emotions };
  out.upload = await scenario(() => page.setInputFiles("#file", config.upload));
  await page.screenshot({ path: config.screenshot, fullPage: true });

  out.click = await scenario(() => page.click("figure.result >> nth=0"));
  out.click.clicked = out.upload.ids[0];
  out.keyboard = await scenario(async () => { await page.focus("figure.result >> nth=1"); await page.keyboard.press("Enter"); });
  out.keyboard.clicked = out.click.ids[1];

  await page.selectOption("#emotion", config.emotion);
  out.filtered = await scenario(() => page.setInputFiles("#file", config.upload));
  out.filtered_click = await scenario(() => page.click("figure.result >> nth=0"));
  await page.selectOption("#emotion", "");

  out.too_large = await scenario(() => page.setInputFiles("#file", config.big));
  out.not_image = await scenario(() => page.setInputFiles("#file", config.text));
  out.broken = await scenario(() => page.setInputFiles("#file", config.broken));

  // The page's own size check bypassed (GET /emotions answers a larger limit): the server refuses the upload,
  // with a 413 or by closing the connection while the body is sent; the page says why all the same.
  await page.route("**/emotions", async (route) => {
    const response = await route.fetch();
    route.fulfill({ response, json: { ...(await response.json()), max_upload_bytes: 1e9 } });
  });
  await setKey("");
  await setKey(key);
  out.refused_by_server = await scenario(() => page.setInputFiles("#file", config.big));
  await page.unroute("**/emotions");

  await setKey("wrong-key");
  await page.waitForFunction(() => document.getElementById("error").textContent.includes("API key"), null, { timeout: TIMEOUT });
  out.key_changed_error = await page.textContent("#error");
  out.wrong_key = await scenario(() => page.setInputFiles("#file", config.upload));
  out.problems = problems;
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
