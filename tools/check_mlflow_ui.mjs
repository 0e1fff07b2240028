// Open the MLflow UI in a real headless Chromium and check what a user sees: where the experiment opens
// first (MLflow 3.17 opens it on the GenAI overview while the sidebar's toggle is on "GenAI", its default,
// whatever the experiment's kind), that one click on "Model training" (remembered by the browser) or the
// direct link of docs/tracking.md opens its runs table, and that the filter `tags.method = 's2kd'` leaves
// the s2kd student.
// Prints a JSON summary, writes two screenshots, exits 1 on failure.
//
//   npm install --prefix /tmp/hb puppeteer-core @sparticuz/chromium   # once; both from the npm registry
//   mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5055 &   # the store a `kedro run` left
//   NODE_PATH=/tmp/hb/node_modules node tools/check_mlflow_ui.mjs http://127.0.0.1:5055 s2kd [/tmp/mlflow]
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.NODE_PATH || ".", "noop.js"));
const chromium = require("@sparticuz/chromium");
const puppeteer = require("puppeteer-core");

const base = process.argv[2] || "http://127.0.0.1:5055";
const name = process.argv[3] || "s2kd";
const shots = process.argv[4] || "/tmp/mlflow";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const experiments = await (await fetch(`${base}/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name=${name}`)).json();
const id = experiments.experiment.experiment_id;
const browser = await puppeteer.launch({
  args: [...chromium.args, "--lang=en-US"], env: { ...process.env, LANG: "en_US.UTF-8" }, executablePath: await chromium.executablePath(), headless: true,
  defaultViewport: { width: 1400, height: 900 },
});
const result = { experiment: name, id };
try {
  const page = await browser.newPage();
  const text = async () => page.evaluate(() => document.body.innerText);
  const open = async () => {  // as a user arrives: the experiment list, then a click on the experiment's name
    await page.goto(`${base}/#/experiments`, { waitUntil: "networkidle0" });
    const link = await page.waitForSelector(`a[href*="experiments/${id}"]`, { timeout: 30000 });
    await link.click();
    await sleep(4000);
    const body = await text();
    return { url: page.url().replace(base, ""), runs_table: /Run Name/.test(body) && body.includes("kedro-"),
             genai_overview: /Token Usage|Traces\s+0/.test(body) };
  };
  result.first_visit = await open();
  await page.screenshot({ path: `${shots}_first.png` });
  await page.goto(`${base}/#/experiments`, { waitUntil: "networkidle0" });
  const toggle = await page.$$("xpath/.//*[text()='Model training']");
  if (toggle.length) {
    await toggle[0].click();
    await sleep(1500);
  }
  result.after_model_training_toggle = await open();
  await page.screenshot({ path: `${shots}_runs.png` });
  const direct = await browser.newPage();  // a fresh tab, the toggle remembered
  await direct.goto(`${base}/#/experiments/${id}/runs?workflowType=machine_learning`, { waitUntil: "networkidle0" });
  await sleep(3000);
  result.direct_link_runs_table = /Run Name/.test(await direct.evaluate(() => document.body.innerText));
  // the filter of docs/tracking.md, typed into the runs table's search box
  const box = await direct.waitForSelector('input[placeholder*="metrics"], input[data-testid="search-box"], input[placeholder*="Search"]',
    { timeout: 15000 });
  await box.click({ clickCount: 3 });
  await box.type("tags.method = 's2kd'");
  await direct.keyboard.press("Enter");
  await sleep(4000);
  // a model's run is nested under its `kedro run`'s run: the table shows the parent, to be expanded
  const parent = await direct.waitForSelector("xpath/.//a[starts-with(normalize-space(.), 'kedro-')]", { timeout: 15000 });
  const where = await parent.boundingBox();
  await direct.mouse.click(where.x - 30, where.y + where.height / 2);  // the tree's expand icon left of the name
  await sleep(2000);
  const filtered = await direct.evaluate(() => document.body.innerText);
  result.filtered_matching = (filtered.match(/(\d+) matching runs?/) || [])[1];
  result.filtered_url = direct.url().replace(base, "");
  result.filtered_runs = ["student_s2kd_forecast", "student_s2kd", "student_student", "teacher_vision", "student_sdkd"]
    .filter((r) => new RegExp(`(^|\\s)${r}(\\s|$)`, "m").test(filtered));
  await direct.screenshot({ path: `${shots}_filtered.png` });
} finally {
  await browser.close();
}
result.ok = result.after_model_training_toggle.runs_table && result.direct_link_runs_table &&
  result.filtered_runs.length === 1 && result.filtered_runs[0] === "student_s2kd";
console.log(JSON.stringify(result, null, 1));
process.exit(result.ok ? 0 : 1);
