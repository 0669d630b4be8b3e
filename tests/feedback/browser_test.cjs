// Drives the annotation UI in headless Chromium with Playwright (started by browser_test.sh):
// mouse and keyboard labelling, undo, ranking, inert injection, dashboard, export check.
"use strict";
const { chromium } = require("playwright-core");
const { execFileSync } = require("child_process");
const path = require("path");

const { URL: BASE, ANN_TOKEN, ADMIN_TOKEN, CHROMIUM, RLHF, DB, SHOTS } = process.env;
let passed = 0;
let failed = 0;
function check(cond, what) {
  if (cond) {
    passed++;
    console.log("  ok   " + what);
  } else {
    failed++;
    console.log("  FAIL " + what);
  }
}

async function taskId(page) {
  await page.waitForSelector("#task:not([hidden])");
  return Number(await page.getAttribute("#task", "data-task-id"));
}

async function waitForNewTask(page, oldId) {
  await page.waitForFunction((old) => {
    const t = document.getElementById("task");
    const e = document.getElementById("empty");
    return (!t.hidden && Number(t.dataset.taskId) !== old) || !e.hidden;
  }, oldId);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const dialogs = [];
    page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));

    // Sign in.
    await page.goto(BASE + "/");
    await page.fill("#token", "wrong-token");
    await page.click("#login");
    await page.waitForFunction(() => document.getElementById("login-error").textContent.length > 0);
    check(/unknown token/.test(await page.textContent("#login-error")), "a wrong token is refused with the server's message");
    await page.fill("#token", ANN_TOKEN);
    await page.click("#login");
    let id = await taskId(page);
    check((await page.textContent("#who")).includes("browser-annotator"), "signed in as the annotator");
    check((await page.textContent("#guidelines")).includes("Prefer answers that are correct"), "guidelines shown beside the task");
    check(/Labelled 0 · 4 left/.test(await page.textContent("#progress")), "progress counter: 0 labelled, 4 left");

    // Task 1: Markdown, code and a multi-turn dialogue, labelled with the MOUSE.
    check((await page.$$("#prompt .turn")).length === 3, "multi-turn dialogue rendered as 3 turns");
    check((await page.$$("#responses pre code")).length === 1, "code block rendered as <pre><code>");
    check((await page.$$("#responses li")).length === 2, "Markdown list rendered");
    check((await page.$$("#responses .response")).length === 2, "two responses side by side");
    const leftText = await page.textContent("#response-0 .response-body");
    await page.screenshot({ path: path.join(SHOTS, "feedback-ui.png") });
    await page.click("#btn-left-better");
    await waitForNewTask(page, id);
    check(/Saved label/.test(await page.textContent("#status")), "mouse label saved");

    // Task 2: injection attempt, labelled with the KEYBOARD ("6" = right better).
    id = await taskId(page);
    const promptText = await page.textContent("#prompt");
    check(promptText.includes("<script>window.__pwned = 1</script>"), "script tag shown as text");
    check(promptText.includes("DROP TABLE labels"), "SQL shown verbatim");
    check((await page.$$("#task script, #task img, #task iframe, #task svg, #task b")).length === 0,
      "no injected element exists in the page");
    check(await page.evaluate(() => window.__pwned === undefined), "no injected script ran");
    await page.keyboard.press("6");
    await waitForNewTask(page, id);

    // Task 3: keyboard tie, then UNDO with "z": the same task comes back; then both bad with a flag
    // (U) and a rationale (R, type, Esc).
    id = await taskId(page);
    await page.keyboard.press("4");
    await waitForNewTask(page, id);
    await page.keyboard.press("z");
    await page.waitForFunction(() => /Undid label/.test(document.getElementById("status").textContent));
    check((await taskId(page)) === id, "undo hands the same task back");
    await page.keyboard.press("u");
    check(await page.isChecked("#flag-unsafe"), "U toggles the unsafe flag");
    await page.keyboard.press("r");
    await page.keyboard.type("Neither answer is <b>right</b>");
    await page.keyboard.press("Escape");
    await page.keyboard.press("b");
    await waitForNewTask(page, id);

    // Task 4: a 3-way ranking with the keyboard: "1", "=", "3" (tied best), "2", Enter.
    id = await taskId(page);
    check((await page.$$("#responses .response")).length === 3, "ranking task shows 3 responses");
    check(!(await page.isHidden("#ranking-controls")), "ranking mode for 3 responses");
    for (const k of ["1", "=", "3", "2"]) await page.keyboard.press(k);
    check((await page.textContent("#ranking-display")) === "A = C  >  B", "ranking display shows the tie");
    await page.keyboard.press("Enter");
    await page.waitForSelector("#empty:not([hidden])");
    check(/Labelled 4 · 0 left/.test(await page.textContent("#progress")), "progress counter: 4 labelled, 0 left");
    check(dialogs.length === 0, "no dialog was opened");
    check(pageErrors.length === 0, "no page errors: " + pageErrors.join("; "));

    // Admin dashboard.
    const admin = await browser.newPage();
    await admin.goto(BASE + "/admin");
    await admin.fill("#token", ADMIN_TOKEN);
    await admin.click("#login");
    await admin.waitForSelector("#dash-view:not([hidden])");
    await admin.waitForFunction(() => document.querySelectorAll("#annotators tr").length >= 2);
    check((await admin.textContent("#annotators")).includes("browser-annotator"), "dashboard lists the annotator");
    check((await admin.textContent("#counts")).includes("labels"), "dashboard shows counts");
    await admin.screenshot({ path: path.join(SHOTS, "feedback-dashboard.png") });
    // An annotator token cannot open the dashboard.
    const other = await browser.newPage();
    await other.goto(BASE + "/admin");
    await other.fill("#token", ANN_TOKEN);
    await other.click("#login");
    await other.waitForFunction(() => document.getElementById("login-error").textContent.length > 0);
    check(/admins only/.test(await other.textContent("#login-error")), "annotator token refused by the dashboard");

    // The labels are in the export.
    const out = execFileSync(RLHF, ["feedback", "export", "--db", DB], { encoding: "utf8" });
    const recs = out.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
    check(recs.length === 4, "export has 4 records (the undone tie is gone), got " + recs.length);
    const md = recs.find((r) => r.id === "md");
    check(md && md.strength === "better" && md.annotator === "browser-annotator" && typeof md.timestamp === "number",
      "mouse label exported with strength, annotator and timestamp");
    check(md && md.chosen_left === true && md.chosen.replace(/^ /, "").startsWith(leftText.trim().slice(0, 3)),
      "mouse label chose the left response");
    const xss = recs.find((r) => r.id === "xss");
    check(xss && xss.strength === "better" && xss.chosen_left === false, "keyboard label (right better) exported");
    check(xss && xss.prompt.includes("<script>window.__pwned = 1</script>"), "injection text stored verbatim");
    const plain = recs.find((r) => r.id === "plain");
    check(plain && plain.strength === "both_bad" && plain.both_bad === true && plain.tie === true,
      "both_bad exported as both_bad (not as the undone tie)");
    check(plain && plain.flags && plain.flags.includes("unsafe") && plain.rationale === "Neither answer is <b>right</b>",
      "flag and rationale exported verbatim");
    const rank = recs.find((r) => r.id === "rank");
    check(rank && Array.isArray(rank.ranking) && rank.ranking.length === 2 && Array.isArray(rank.ranking[0]),
      "ranking with a tie exported");
  } finally {
    await browser.close();
  }
  console.log(`browser test: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
})().catch((e) => {
  console.error("browser test: FAILED: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});
