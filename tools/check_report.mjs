// Open a report in a real headless Chromium and check that it renders: its tables are laid out and
// every image decoded (no broken image). Prints a JSON summary, writes a screenshot, exits 1 on failure.
//
//   npm install --prefix /tmp/hb puppeteer-core @sparticuz/chromium   # once; both from the npm registry
//   NODE_PATH=/tmp/hb/node_modules node tools/check_report.mjs data/08_reporting/ncep/report.html [shot.png]
//
// @sparticuz/chromium ships a Chromium binary inside the npm package, so no browser download from
// elsewhere is needed (this machine reaches package registries only).
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH || ".", "noop.js"));
const chromium = require("@sparticuz/chromium");
const puppeteer = require("puppeteer-core");

const file = path.resolve(process.argv[2] || "data/08_reporting/synthetic/report.html");
const shot = process.argv[3] || "/tmp/report.png";
const browser = await puppeteer.launch({
  args: chromium.args, executablePath: await chromium.executablePath(), headless: true,
});
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("requestfailed", (r) => errors.push(`request failed: ${r.url().slice(0, 80)}`));
  await page.goto(`file://${file}`, { waitUntil: "load" });
  const result = await page.evaluate(() => ({
    title: document.title,
    tables: [...document.querySelectorAll("table")].map((t) => ({
      rows: t.rows.length, width: t.getBoundingClientRect().width })),
    images: [...document.images].map((i) => ({
      alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight })),
    scripts: document.scripts.length,
  }));
  await page.screenshot({ path: shot, fullPage: true });
  const broken = result.images.filter((i) => !i.complete || i.width === 0);
  const emptyTables = result.tables.filter((t) => t.rows < 2 || t.width === 0);
  const ok = result.tables.length > 0 && result.images.length > 0 && broken.length === 0 &&
    emptyTables.length === 0 && result.scripts === 0 && errors.length === 0;
  console.log(JSON.stringify({ file, ok, tables: result.tables.length, images: result.images.length,
    broken: broken.length, emptyTables: emptyTables.length, scripts: result.scripts, errors, shot }, null, 2));
  process.exitCode = ok ? 0 : 1;
} finally {
  await browser.close();
}
