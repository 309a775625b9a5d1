// browser-test.mjs - docchat's chat page in a real browser (Debian's Chromium, driven
// through playwright-core), against docchat under lighttpd with the shipped config and
// its strict Content-Security-Policy.
//
// tests/browser/run sets things up and starts this. serve.py starts the servers the way
// the integration tests do; every check then works through the page as a person would
// (typing, clicking, choosing files) and, where the result is stored, reads it back from
// the API. One line per check: "PASS name", "FAIL name: reason", or "SKIP name: reason"
// when Chromium cannot run here at all. Exit status 1 if any check failed.
//
// Screenshots go to tests/artifacts/. Environment: DOCCHAT_BIN, DOCCHAT_SRCDIR (as for the
// integration tests), CHROMIUM (default /usr/bin/chromium), DOCCHAT_TEST_KEEP=1 keeps the
// servers' temporary directory.

import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SRCDIR = path.resolve(process.env.DOCCHAT_SRCDIR || path.join(HERE, "..", ".."));
const ARTIFACTS = path.join(SRCDIR, "tests", "artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const CHECK_TIMEOUT_MS = 30000;   // one check
const RUN_TIMEOUT_MS = 150000;    // the whole run, servers included
const WAIT_MS = 10000;            // one condition inside a check

// The documents serve.py ingests (deploy/sample-docs).
const SAMPLE_DOCS = [
  "aurelia-duo-espresso-manual.md", "family-recipes.md", "home-server-backup-guide.md",
  "tidewater-release-notes.txt", "travel-and-expense-policy.md",
];
const MAX_UPLOAD = 262144; // DOCCHAT_MAX_UPLOAD in serve.py

// Words found in no sample document, so questions about them retrieve only the upload.
const LIGHTHOUSE_MD = `# Pemberton Point lighthouse

The Pemberton Point lighthouse has a spiral staircase of 217 cast-iron steps, painted
green by the keepers in 1911.

The lamp of the Pemberton Point lighthouse is lit half an hour before sunset and its
beam reaches twenty-two nautical miles.
`;

// Text that would run script if any of it reached the page as HTML or as a link.
const HOSTILE_MD = `# Zircon harbour ferry

The zircon harbour ferry leaves the quay at noon <img src=x onerror="window.__pwned=1"> every Tuesday and Friday.

The zircon harbour ferry ticket office closes early <script>window.__pwned=2</script> on Sundays and holidays.

Check the zircon harbour ferry timetable [link](javascript:window.__pwned=3) before you travel to the islands.
`;

// A document in Markdown with everything a source excerpt has to render (a heading, a
// list with bold text, a table, inline code), things it must not let through (a
// javascript: link, raw HTML with a handler, an image from another site) and a code fence
// that is never closed. "Quillwort" is in no other document. Short enough to be one chunk.
const IMAGE_HOST = "images.invalid";
const QUILLWORT_MD = `# Quillwort pond survey

### Survey kit

- **Waders** in size 44, checked for leaks before every quillwort survey.
- A *hand lens* and the \`QW-7\` sampling grid.

| Station | Quillwort rosettes |
|---|---|
| North bank | 41 |
| South bank | 17 |

The quillwort survey log is kept on [the club wiki](https://example.org/quillwort) and never at [this address](javascript:window.__pwned=4).
A photo of the quillwort pond <img src=x onerror="window.__pwned=5"> is in the folder ![quillwort rosette](http://${IMAGE_HOST}/quillwort.png).

### Counting script

\`\`\`sh
count-rosettes --pond north --plant quillwort
`;

/* ------------------------------------------------------------------------------------
 * Checks and their runner
 * ---------------------------------------------------------------------------------- */

const checks = [];
const check = (name, fn) => checks.push({ name, fn });
let failures = 0;

class CheckFailure extends Error {}
function assert(cond, message) {
  if (!cond) throw new CheckFailure(message);
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new CheckFailure(`${what} took longer than ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function oneLine(s, n = 400) {
  const t = String(s).replace(/\s+/g, " ").trim();
  return t.length > n ? `${t.slice(0, n)}…` : t;
}

function reason(err) {
  if (err instanceof CheckFailure) return oneLine(err.message);
  // Playwright's messages carry a call log after the first lines: keep the start.
  const first = String(err && err.message ? err.message : err).split("\n").slice(0, 2).join(" ");
  return oneLine(`${err && err.name ? err.name : "Error"}: ${first}`);
}

/* ------------------------------------------------------------------------------------
 * Servers: tests/browser/serve.py
 * ---------------------------------------------------------------------------------- */

function startServers() {
  const child = spawn("python3", [path.join(HERE, "serve.py")], {
    stdio: ["pipe", "pipe", "inherit"],
    env: process.env,
  });
  const ready = new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      let info;
      try {
        info = JSON.parse(line);
      } catch {
        reject(new Error(`serve.py said: ${line}`));
        return;
      }
      if (info.error) reject(new Error(`the servers did not start: ${info.error}`));
      else resolve(info);
    });
    child.once("exit", (code) => reject(new Error(`serve.py exited with status ${code} before the servers were up`)));
  });
  const stop = (failed) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    child.once("exit", () => resolve());
    if (failed) child.stdin.write("failed\n");
    child.stdin.end();
    setTimeout(() => child.kill("SIGTERM"), 20000).unref();
  });
  return { ready, stop };
}

/* ------------------------------------------------------------------------------------
 * Helpers on the page
 * ---------------------------------------------------------------------------------- */

const ctx = {
  base: "",
  browser: null,
  page: null,             // the desktop page most checks use
  consoleErrors: [],      // {page, text, url} of every page
  expectedFailures: 0,    // uploads the checks made fail on purpose (each logs a 4xx)
  sessionId: null,
  questions: [],          // asked in the session, in order
  auth: {                 // the site with DOCCHAT_AUTH=required (serve.py "auth")
    base: "",
    config: "",           // its DOCCHAT_CONFIG, for `docchat token create`
    page: null,
    token: null,          // alice's, once made
    requests: [],         // {method, url, authorization} of every request its pages sent
  },
  basic: null,            // the site behind lighttpd's Basic auth: {base, user, password}
};

async function api(method, p, body) {
  const res = await fetch(ctx.base + p, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

async function waitFor(fn, what, timeout = WAIT_MS, interval = 100) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new CheckFailure(`timed out after ${timeout / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

// A new browser context whose pages report console errors, uncaught exceptions and CSP
// violations into ctx.consoleErrors.
async function newContext(label, options = {}) {
  const context = await ctx.browser.newContext({ viewport: { width: 1280, height: 820 }, ...options });
  context.setDefaultTimeout(WAIT_MS);
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) => {
      window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} (${e.sourceFile || "?"}:${e.lineNumber || 0})`);
    });
  });
  context.on("page", (page) => watchPage(page, label));
  return context;
}

function watchPage(page, label) {
  page.on("console", (msg) => {
    if (msg.type() === "error") ctx.consoleErrors.push({ page: label, text: msg.text(), url: msg.location().url || "" });
  });
  page.on("pageerror", (err) => ctx.consoleErrors.push({ page: label, text: `uncaught ${err.name}: ${err.message}`, url: "" }));
}

async function cspViolations(page) {
  return page.evaluate(() => window.__cspViolations || []);
}

// Open the page and wait until it has loaded the models, documents and chats.
async function openPage(page, base = ctx.base) {
  const res = await page.goto(base + "/", { waitUntil: "load" });
  assert(res && res.status() === 200, `GET / answered ${res && res.status()}`);
  await page.waitForFunction(() => {
    const models = document.querySelector("#model-select");
    return models && models.options.length > 0 && models.options[0].textContent !== "Loading…" &&
      document.querySelectorAll("#document-list .document").length > 0;
  });
  return res;
}

// Make the context's pages open the test's chat, as the page does for a returning reader.
async function rememberSession(context) {
  await context.addInitScript(([origin, id]) => {
    if (location.origin === origin) localStorage.setItem("docchat.session", JSON.stringify(id));
  }, [ctx.base, ctx.sessionId]);
}

// The last answer on the page.
const lastAnswer = (page) => page.locator("#messages .msg-assistant").last();

// Type a question and send it with Enter.
async function ask(page, question) {
  await page.locator("#question").fill(question);
  await page.locator("#question").press("Enter");
  ctx.questions.push(question);
}

// Wait until the last answer is no longer streaming; returns its text.
async function waitAnswerDone(page, timeout = 20000) {
  const answer = lastAnswer(page);
  await answer.waitFor();
  await page.waitForFunction(() => {
    const all = document.querySelectorAll("#messages .msg-assistant");
    const a = all[all.length - 1];
    return a && !a.classList.contains("streaming") && !a.hasAttribute("aria-busy");
  }, null, { timeout });
  if (await answer.locator(".notice-error").count() > 0) {
    throw new CheckFailure(`the answer failed: ${await answer.locator(".notice-error").first().innerText()}`);
  }
  return answer.locator(".answer").innerText();
}

// Records the length of the last answer's text every 20 ms while it streams.
async function startSampling(page) {
  await page.evaluate(() => {
    window.__samples = [];
    clearInterval(window.__sampler);
    window.__sampler = setInterval(() => {
      const all = document.querySelectorAll("#messages .msg-assistant");
      const a = all[all.length - 1];
      if (!a || !a.classList.contains("streaming")) return;
      const n = a.querySelector(".answer").textContent.length;
      const s = window.__samples;
      if (s[s.length - 1] !== n) s.push(n);
    }, 20);
  });
}

async function stopSampling(page) {
  return page.evaluate(() => {
    clearInterval(window.__sampler);
    return window.__samples;
  });
}

async function sourceNames(answer) {
  return answer.locator(".source .source-doc").allInnerTexts().then((a) => a.map((s) => s.trim()));
}

// Choose files in the page's upload control. files: [{name, mimeType, buffer}]
async function chooseFiles(page, files) {
  await page.locator("#upload-input").setInputFiles(files);
}

function uploadRow(page, name) {
  return page.locator("#upload-list .upload").filter({ has: page.locator(".upload-name", { hasText: name }) }).last();
}

async function waitUploadResult(page, name) {
  const row = uploadRow(page, name);
  await row.waitFor();
  await page.waitForFunction((el) => el.dataset.state === "done" || el.dataset.state === "error",
    await row.elementHandle(), { timeout: WAIT_MS });
  return { state: await row.getAttribute("data-state"), text: (await row.locator(".upload-result").innerText()).trim(), row };
}

async function listedDocuments(page) {
  return page.locator("#document-list .document .document-name").allInnerTexts().then((a) => a.map((s) => s.trim()));
}

// Scroll the conversation so that the last question and its answer are in view.
async function showLastQuestion(page) {
  await page.evaluate(() => {
    const all = document.querySelectorAll("#messages .msg-user");
    if (all.length) all[all.length - 1].scrollIntoView({ block: "start" });
  });
}

async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name) });
}

// The API's documents by name.
async function apiDocuments() {
  const r = await api("GET", "/api/documents");
  assert(r.status === 200, `GET /api/documents: ${r.status}`);
  return new Map(r.json.documents.map((d) => [d.name, d]));
}

/* ------------------------------------------------------------------------------------
 * The checks, in order; later ones build on what earlier ones did
 * ---------------------------------------------------------------------------------- */

check("page_loads_without_errors", async () => {
  const context = await newContext("desktop");
  ctx.context = context;
  const page = await context.newPage();
  ctx.page = page;
  const res = await openPage(page);
  const csp = res.headers()["content-security-policy"] || "";
  assert(csp.includes("script-src 'self'") && csp.includes("style-src 'self'"),
    `the page is not served with the shipped CSP: ${JSON.stringify(csp)}`);
  const docs = await listedDocuments(page);
  for (const name of SAMPLE_DOCS) assert(docs.includes(name), `document list ${JSON.stringify(docs)} lacks ${name}`);
  assert(await page.locator("#upload-button").isVisible(), "no upload button in the documents panel");
  const models = await page.locator("#model-select option").allInnerTexts();
  assert(models.some((m) => m.startsWith("extractive")), `models: ${JSON.stringify(models)}`);
  const errors = ctx.consoleErrors.map((e) => e.text);
  assert(errors.length === 0, `console errors: ${JSON.stringify(errors)}`);
  const violations = await cspViolations(page);
  assert(violations.length === 0, `CSP violations: ${JSON.stringify(violations)}`);
});

check("asking_creates_a_session", async () => {
  const { page } = ctx;
  await page.locator("#new-chat").click();
  await startSampling(page);
  await ask(page, "How often should I descale the espresso machine?");
  const item = page.locator("#session-list .session.active");
  await item.waitFor();
  ctx.sessionId = await item.getAttribute("data-id");
  assert(/^[0-9a-f-]{36}$/.test(ctx.sessionId || ""), `active session id ${ctx.sessionId}`);
  const r = await api("GET", `/api/sessions/${ctx.sessionId}`);
  assert(r.status === 200, `GET /api/sessions/${ctx.sessionId}: ${r.status}`);
  assert(r.json.title.startsWith("How often should I descale"), `session title ${JSON.stringify(r.json.title)}`);
});

check("answer_grows_while_streaming", async () => {
  const { page } = ctx;
  const text = await waitAnswerDone(page);
  const samples = await stopSampling(page);
  // The lengths seen while the answer streamed: count each new maximum.
  let max = 0;
  const steps = [];
  for (const n of samples) {
    if (n > max) {
      steps.push(n);
      max = n;
    }
  }
  assert(steps.length >= 3, `the answer grew in ${steps.length} step(s) (lengths seen: ${JSON.stringify(samples)})`);
  assert(/descale/i.test(text), `answer: ${oneLine(text)}`);
  assert(await lastAnswer(page).locator(".meta .meta-model").innerText() === "extractive", "no model shown under the answer");
  await showLastQuestion(page);
  await screenshot(page, "desktop-answer.png");
});

check("sources_show_documents_and_scores", async () => {
  const answer = lastAnswer(ctx.page);
  const sources = answer.locator(".source");
  const n = await sources.count();
  assert(n >= 1, "no sources under the answer");
  const names = await sourceNames(answer);
  assert(names.includes("aurelia-duo-espresso-manual.md"), `source names: ${JSON.stringify(names)}`);
  for (const name of names) assert(SAMPLE_DOCS.includes(name), `unexpected source name ${JSON.stringify(name)}`);
  const scores = await answer.locator(".source .source-score").allInnerTexts();
  assert(scores.length === n && scores.every((s) => /^\d{1,3}%$/.test(s.trim())), `scores: ${JSON.stringify(scores)}`);
  const count = await answer.locator(".sources-count").innerText();
  assert(count.toLowerCase().includes(`${n} source`), `sources summary: ${count}`);
});

check("citation_link_focuses_its_source", async () => {
  const { page } = ctx;
  const answer = lastAnswer(page);
  const cites = answer.locator(".answer a.cite");
  assert(await cites.count() >= 1, "the answer has no citation links");
  // The last citation: the one whose source is furthest down.
  const cite = cites.last();
  const n = Number(await cite.innerText());
  const target = await cite.getAttribute("data-source");
  assert(target && target.endsWith(`-${n}`), `citation [${n}] points at ${target}`);
  // Scroll the conversation to the top first, so following the link has to move it.
  await page.evaluate(() => { document.getElementById("conversation").scrollTop = 0; });
  await cite.click();
  await page.waitForFunction((id) => document.activeElement && document.activeElement.id === id, target);
  const num = await page.locator(`#${target} .source-num`).innerText();
  assert(num === String(n), `focused source shows number ${num}, want ${n}`);
  await page.waitForFunction((id) => {
    const r = document.getElementById(id).getBoundingClientRect();
    const c = document.getElementById("conversation").getBoundingClientRect();
    return r.top >= c.top - 1 && r.bottom <= c.bottom + 1;
  }, target);
  assert(await page.locator(`#${target}.flash`).count() === 1, "the source is not highlighted");
});

check("source_excerpts_render_markdown", async () => {
  const answer = lastAnswer(ctx.page);
  // The espresso manual's maintenance section is a list with bold labels under a heading.
  const found = await answer.locator(".source .source-text").evaluateAll((els) => els.map((e) => ({
    text: e.textContent,
    items: e.querySelectorAll("li").length,
    strong: e.querySelectorAll("strong").length,
    headings: [...e.querySelectorAll("h1, h2, h3, h4, h5, h6")].map((x) => parseFloat(getComputedStyle(x).fontSize)),
    size: parseFloat(getComputedStyle(e).fontSize),
  })));
  assert(found.some((f) => f.items > 0 && f.strong > 0), `no excerpt has a list with bold text: ${JSON.stringify(found.map((f) => oneLine(f.text, 80)))}`);
  for (const f of found) {
    assert(!f.text.includes("**") && !/^#{1,6} /m.test(f.text), `Markdown shown as text in the excerpt ${JSON.stringify(oneLine(f.text, 120))}`);
    assert(f.headings.every((px) => px <= f.size + 0.5), `headings of ${JSON.stringify(f.headings)}px in an excerpt of ${f.size}px`);
  }
});

check("stop_marks_the_answer_interrupted", async () => {
  const { page } = ctx;
  await ask(page, "How do I restore files from the backup?");
  const answer = lastAnswer(page);
  // Stop once a few words are there, while the answer is still streaming.
  await page.waitForFunction(() => {
    const all = document.querySelectorAll("#messages .msg-assistant");
    const a = all[all.length - 1];
    return a && a.classList.contains("streaming") && a.querySelector(".answer").textContent.length >= 40;
  });
  await page.locator("#stop-button").click();
  await answer.locator(".notice-interrupted .badge").waitFor();
  assert(await answer.evaluate((a) => a.classList.contains("interrupted") && !a.classList.contains("streaming")),
    "the answer is not marked interrupted");
  assert(await page.locator("#send-button").isVisible(), "the send button did not come back");
  assert(!(await page.locator("#stop-button").isVisible()), "the stop button is still shown");
  const shown = (await answer.locator(".answer").innerText()).length;
  await showLastQuestion(page);
  await screenshot(page, "stopped-answer.png");
  // docchat notices the browser left and stores what it had sent, marked interrupted.
  const message = await waitFor(async () => {
    const r = await api("GET", `/api/sessions/${ctx.sessionId}`);
    const msgs = (r.json && r.json.messages) || [];
    const last = msgs[msgs.length - 1];
    return last && last.role === "assistant" && last.status !== "streaming" ? last : null;
  }, "the stored answer to leave status streaming");
  assert(message.status === "interrupted", `stored status ${message.status}, want interrupted`);
  assert(message.content.length >= Math.min(shown, 40) - 10,
    `stored ${message.content.length} characters, the page showed ${shown}`);
});

check("upload_markdown_document", async () => {
  const { page } = ctx;
  await chooseFiles(page, [{ name: "pemberton-lighthouse.md", mimeType: "text/markdown", buffer: Buffer.from(LIGHTHOUSE_MD) }]);
  const { state, text } = await waitUploadResult(page, "pemberton-lighthouse.md");
  assert(state === "done", `upload result ${state}: ${text}`);
  assert(/^Added · \d+ chunks?\.$/.test(text), `upload result text ${JSON.stringify(text)}`);
  await waitFor(async () => (await listedDocuments(page)).includes("pemberton-lighthouse.md"), "the document in the list");
  await page.locator("#doc-picker-list label", { hasText: "pemberton-lighthouse.md" }).waitFor({ state: "attached" });
  const live = await page.locator("#upload-live").innerText();
  assert(live.includes("pemberton-lighthouse.md"), `the live region did not announce the upload: ${JSON.stringify(live)}`);
  const docs = await apiDocuments();
  assert(docs.has("pemberton-lighthouse.md"), "GET /api/documents lacks the upload");
});

check("upload_errors_shown_with_the_file_name", async () => {
  const { page } = ctx;
  ctx.expectedFailures += 3;
  await chooseFiles(page, [
    { name: "installer.exe", mimeType: "application/octet-stream", buffer: Buffer.from("MZ\x90\x00\x03\x00") },
    { name: "empty-notes.txt", mimeType: "text/plain", buffer: Buffer.alloc(0) },
    { name: "huge-log.txt", mimeType: "text/plain", buffer: Buffer.alloc(MAX_UPLOAD + 4096, 0x61) },
  ]);
  const exe = await waitUploadResult(page, "installer.exe");
  const empty = await waitUploadResult(page, "empty-notes.txt");
  const huge = await waitUploadResult(page, "huge-log.txt");
  assert(exe.state === "error" && /supported/i.test(exe.text) && exe.text.includes(".md") && exe.text.includes(".pdf"),
    `415 shown as ${exe.state}: ${JSON.stringify(exe.text)}`);
  assert(empty.state === "error" && empty.text.length > 3, `422 shown as ${empty.state}: ${JSON.stringify(empty.text)}`);
  assert(huge.state === "error" && huge.text.startsWith("Too large") && huge.text.includes("the limit is 256 KB"),
    `413 shown as ${huge.state}: ${JSON.stringify(huge.text)}`);
  // Each result is announced (the live region keeps the last few).
  const live = await page.locator("#upload-live").innerText();
  for (const r of [exe, empty, huge]) {
    assert(live.includes(r.text), `the live region does not announce ${JSON.stringify(r.text)}: ${JSON.stringify(live)}`);
  }
  const docs = await listedDocuments(page);
  for (const name of ["installer.exe", "empty-notes.txt", "huge-log.txt"]) {
    assert(!docs.includes(name), `${name} is listed although it was refused`);
  }
});

check("upload_progress_and_cancel", async () => {
  const { page } = ctx;
  // A slow uplink (60 kB/s), so the progress of a 150 kB file can be watched.
  const cdp = await ctx.context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", {
    offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 60000,
  });
  try {
    const name = "slow-field-notes.txt";
    await chooseFiles(page, [{ name, mimeType: "text/plain", buffer: Buffer.from("Field notes from the dunes. ".repeat(5400)) }]);
    const row = uploadRow(page, name);
    await row.waitFor();
    const bar = row.locator("progress.upload-bar");
    const seen = new Set();
    await waitFor(async () => {
      // one read of both, so the bar cannot move between them
      const [v, pct] = await row.evaluate((r) => [
        r.querySelector("progress.upload-bar").value,
        r.querySelector(".upload-pct").innerText,
      ]);
      if (v > 0) seen.add(`${v}|${pct}`);
      return seen.size >= 2 && v >= 10;
    }, "the progress bar to move", WAIT_MS, 50);
    for (const entry of seen) {
      const [v, pct] = entry.split("|");
      assert(pct === `${v}%` || pct === "Indexing…", `progress ${v} shown as ${JSON.stringify(pct)}`);
    }
    assert(await bar.getAttribute("aria-label") === `Upload of ${name}`, "the progress bar has no label");
    const cancel = row.locator(".upload-close");
    assert((await cancel.getAttribute("aria-label")).startsWith("Cancel"), "no cancel button while uploading");
    await cancel.click();
    await row.waitFor({ state: "detached" });
    assert((await page.locator("#upload-live").innerText()).includes(`${name} was cancelled`), "the cancel is not announced");
    assert(await page.evaluate(() => document.activeElement.id) === "upload-button", "the focus did not go back to the upload button");
    assert(!(await apiDocuments()).has(name), "the cancelled upload was stored");
  } finally {
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  }
});

check("uploaded_document_answers_and_is_cited", async () => {
  const { page } = ctx;
  await ask(page, "How many steps does the Pemberton Point lighthouse staircase have?");
  const text = await waitAnswerDone(page);
  assert(text.includes("217"), `answer: ${oneLine(text)}`);
  const answer = lastAnswer(page);
  const names = await sourceNames(answer);
  assert(names[0] === "pemberton-lighthouse.md", `source names: ${JSON.stringify(names)}`);
  const cited = await answer.locator(".answer a.cite").evaluateAll((as) => as.map((a) => a.getAttribute("aria-label")));
  assert(cited.some((l) => l && l.includes("pemberton-lighthouse.md")), `citations: ${JSON.stringify(cited)}`);
  // The upload results are still in the panel: the page after an upload.
  await showLastQuestion(page);
  await screenshot(page, "upload.png");
});

check("drop_files_to_upload", async () => {
  const { page } = ctx;
  const dataTransfer = await page.evaluateHandle(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(["Tide tables for Pemberton Point: high water at 06:12 and 18:40.\n"], "tide-tables.txt", { type: "text/plain" }));
    return dt;
  });
  await page.dispatchEvent("#conversation", "dragenter", { dataTransfer });
  await page.locator("#drop-zone").waitFor({ state: "visible" });
  await page.dispatchEvent("#conversation", "dragover", { dataTransfer });
  await page.dispatchEvent("#conversation", "drop", { dataTransfer });
  await page.locator("#drop-zone").waitFor({ state: "hidden" });
  const { state, text } = await waitUploadResult(page, "tide-tables.txt");
  assert(state === "done", `dropped file: ${state}: ${text}`);
  await waitFor(async () => (await listedDocuments(page)).includes("tide-tables.txt"), "the dropped file in the list");
});

check("delete_document_after_confirming", async () => {
  const { page } = ctx;
  const row = page.locator("#document-list .document", { has: page.locator(".document-name", { hasText: "tide-tables.txt" }) });
  const button = row.locator(".document-delete");
  assert(await button.getAttribute("aria-label") === "Delete “tide-tables.txt”", "delete button label");
  // Keyboard: the button is in the tab order although it only shows on hover or focus.
  await button.focus();
  await page.keyboard.press("Enter");
  const dialog = page.locator("#confirm-dialog");
  await dialog.waitFor({ state: "visible" });
  assert(await dialog.locator("#confirm-title").innerText() === "Delete document?", "dialog title");
  assert((await dialog.locator("#confirm-text").innerText()).includes("tide-tables.txt"), "dialog text names the document");
  // Cancel first: nothing happens.
  await dialog.locator('button[value="cancel"]').click();
  await dialog.waitFor({ state: "hidden" });
  assert((await apiDocuments()).has("tide-tables.txt"), "cancel deleted the document");
  await row.hover();
  await button.click();
  await dialog.waitFor({ state: "visible" });
  await dialog.locator('button[value="ok"]').click();
  await waitFor(async () => !(await listedDocuments(page)).includes("tide-tables.txt"), "the document to leave the list");
  assert(!(await apiDocuments()).has("tide-tables.txt"), "GET /api/documents still lists the deleted document");
  assert(await page.locator("#doc-picker-list label", { hasText: "tide-tables.txt" }).count() === 0, "still in the picker");
});

check("hostile_document_text_stays_text", async () => {
  const { page } = ctx;
  await chooseFiles(page, [{ name: "zircon-ferry.md", mimeType: "text/markdown", buffer: Buffer.from(HOSTILE_MD) }]);
  const { state, text: result } = await waitUploadResult(page, "zircon-ferry.md");
  assert(state === "done", `upload: ${state}: ${result}`);
  await ask(page, "When does the zircon harbour ferry leave, when does the ticket office close, and where is the timetable?");
  const text = await waitAnswerDone(page);
  // The answer quotes the document, payloads included, as plain text.
  assert(text.includes("zircon harbour ferry"), `answer: ${oneLine(text)}`);
  assert(text.includes('onerror="window.__pwned=1"'), `the <img> sentence is not quoted as text: ${oneLine(text)}`);
  assert(text.includes("<script>window.__pwned=2</script>"), `the <script> sentence is not quoted as text: ${oneLine(text)}`);
  assert(/timetable/.test(text), `the link sentence is not quoted: ${oneLine(text)}`);
  // Its source excerpt is Markdown too: the same payloads stay text there.
  const excerpts = await lastAnswer(page).locator(".source-text").allTextContents();
  assert(excerpts.some((t) => t.includes('<img src=x onerror="window.__pwned=1">')), `no excerpt shows the <img> as text: ${JSON.stringify(excerpts.map((t) => oneLine(t, 80)))}`);
  await assertInert(page);
});

check("markdown_source_excerpt_is_sanitized_and_compact", async () => {
  const { page } = ctx;
  const requested = [];
  const onRequest = (req) => requested.push(req.url());
  page.on("request", onRequest);
  try {
    await chooseFiles(page, [{ name: "quillwort-survey.md", mimeType: "text/markdown", buffer: Buffer.from(QUILLWORT_MD) }]);
    const { state, text: result } = await waitUploadResult(page, "quillwort-survey.md");
    assert(state === "done", `upload: ${state}: ${result}`);
    await ask(page, "How many quillwort rosettes were counted at each station of the quillwort survey?");
    await waitAnswerDone(page);
    const answer = lastAnswer(page);
    const names = await sourceNames(answer);
    const n = names.indexOf("quillwort-survey.md") + 1;
    assert(n > 0, `source names: ${JSON.stringify(names)}`);
    const source = answer.locator(".source").nth(n - 1);
    const excerpt = source.locator(".source-text");
    const got = await excerpt.evaluate((e) => ({
      text: e.textContent,
      h1: e.querySelectorAll("h1").length,
      h3: e.querySelectorAll("h3").length,
      items: e.querySelectorAll("li").length,
      strong: e.querySelectorAll("li strong").length,
      cells: [...e.querySelectorAll("td")].map((td) => td.textContent),
      code: e.querySelector("pre code") ? e.querySelector("pre code").textContent.trim() : null,
      imgs: e.querySelectorAll("img").length,
      wiki: e.querySelector('a[href="https://example.org/quillwort"]')?.getAttribute("rel") || null,
      picture: e.querySelector('a[href*="quillwort.png"]')?.textContent || null,
      headingPx: [...e.querySelectorAll("h1, h3")].map((x) => parseFloat(getComputedStyle(x).fontSize)),
      px: parseFloat(getComputedStyle(e).fontSize),
      height: e.getBoundingClientRect().height,
    }));
    assert(got.h1 === 1 && got.h3 === 2, `headings: ${got.h1} h1, ${got.h3} h3`);
    assert(got.headingPx.every((px) => px <= got.px + 0.5), `headings of ${JSON.stringify(got.headingPx)}px in an excerpt of ${got.px}px`);
    assert(got.items === 2 && got.strong === 1, `list: ${got.items} items, ${got.strong} bold`);
    assert(JSON.stringify(got.cells) === JSON.stringify(["North bank", "41", "South bank", "17"]), `table cells: ${JSON.stringify(got.cells)}`);
    // The fence is never closed: the rest of the excerpt is code.
    assert(got.code === "count-rosettes --pond north --plant quillwort", `code block: ${JSON.stringify(got.code)}`);
    for (const raw of ["**", "### ", "|---", "```"]) assert(!got.text.includes(raw), `the excerpt shows ${JSON.stringify(raw)}: ${oneLine(got.text)}`);
    // Raw HTML stays text; the image is a link, as in answers, and is never fetched.
    assert(got.text.includes('<img src=x onerror="window.__pwned=5">'), `the raw <img> is not shown as text: ${oneLine(got.text)}`);
    assert(got.imgs === 0, `${got.imgs} <img> in the excerpt`);
    assert(got.picture === "quillwort rosette", `the image became ${JSON.stringify(got.picture)}`);
    assert(got.wiki === "noopener noreferrer nofollow", `the wiki link has rel ${JSON.stringify(got.wiki)}`);
    assert(!requested.some((u) => u.includes(IMAGE_HOST)), `the page fetched the document's image: ${JSON.stringify(requested.filter((u) => u.includes(IMAGE_HOST)))}`);
    await assertInert(page);
    // Compact until asked: a few lines, then all of it.
    const more = source.locator(".link-btn");
    assert(await more.isVisible() && await more.innerText() === "Show more", "no Show more under a long excerpt");
    assert(got.height < 120, `the collapsed excerpt is ${got.height}px high`);
    assert(await excerpt.evaluate((e) => e.querySelector("pre").getBoundingClientRect().top >= e.getBoundingClientRect().bottom),
      "the code at the end shows while the excerpt is collapsed");
    await showLastQuestion(page);
    await screenshot(page, "source-markdown.png");
    await more.click();
    assert(await more.getAttribute("aria-expanded") === "true" && await more.innerText() === "Show less", "Show more did not open the excerpt");
    await page.waitForFunction((e) => e.getBoundingClientRect().bottom >= e.querySelector("pre").getBoundingClientRect().bottom, await excerpt.elementHandle());
    // A citation of this document still leads to it.
    const cite = answer.locator(`.answer a.cite[data-source$="-${n}"]`).first();
    assert(await cite.count() === 1, `no citation of source ${n} in the answer`);
    await page.evaluate(() => { document.getElementById("conversation").scrollTop = 0; });
    await cite.click();
    const id = await source.getAttribute("id");
    await page.waitForFunction((want) => document.activeElement && document.activeElement.id === want, id);
    assert(await page.locator(`#${id}.flash`).count() === 1, "the cited source is not highlighted");
    await screenshot(page, "source-markdown-open.png");
  } finally {
    page.off("request", onRequest);
  }
});

// Nothing from the answers or their sources ran or became live markup.
async function assertInert(page) {
  const found = await page.evaluate(() => {
    const answers = [...document.querySelectorAll("#messages .answer, #messages .source-text")];
    const bad = [];
    for (const root of answers) {
      for (const el of root.querySelectorAll("*")) {
        const tag = el.tagName.toLowerCase();
        if (["script", "img", "iframe", "object", "embed", "style"].includes(tag)) bad.push(`<${tag}>`);
        for (const attr of el.attributes) {
          if (/^on/i.test(attr.name)) bad.push(`${tag}[${attr.name}]`);
          if (/^\s*javascript:/i.test(attr.value)) bad.push(`${tag}[${attr.name}=${attr.value}]`);
        }
      }
    }
    return { pwned: typeof window.__pwned, bad };
  });
  assert(found.pwned === "undefined", `window.__pwned is ${found.pwned}`);
  assert(found.bad.length === 0, `live markup in the answers: ${JSON.stringify(found.bad)}`);
}

check("sessions_sidebar_rename_and_reload", async () => {
  const { page } = ctx;
  const items = page.locator("#session-list .session");
  assert(await items.count() >= 1, "the sidebar lists no session");
  const item = page.locator(`#session-list .session[data-id="${ctx.sessionId}"]`);
  await item.waitFor();
  await item.locator('button[aria-label^="Rename"]').click();
  const input = page.locator("#session-list .rename-input");
  await input.fill("Harbour and lighthouse notes");
  await input.press("Enter");
  await page.waitForFunction(() => document.getElementById("chat-title").textContent === "Harbour and lighthouse notes");
  await page.locator(`#session-list .session[data-id="${ctx.sessionId}"] .session-title`, { hasText: "Harbour and lighthouse notes" }).waitFor();
  const r = await api("GET", `/api/sessions/${ctx.sessionId}`);
  assert(r.json.title === "Harbour and lighthouse notes", `stored title ${JSON.stringify(r.json.title)}`);

  await page.reload({ waitUntil: "load" });
  await page.waitForFunction((n) => document.querySelectorAll("#messages .msg-user").length === n, ctx.questions.length);
  assert(await page.locator("#chat-title").innerText() === "Harbour and lighthouse notes", "title after reload");
  const asked = await page.locator("#messages .msg-user .bubble").allInnerTexts();
  assert(JSON.stringify(asked) === JSON.stringify(ctx.questions), `questions after reload: ${JSON.stringify(asked)}`);
  const answers = page.locator("#messages .msg-assistant");
  assert(await answers.count() === ctx.questions.length, `${await answers.count()} answers after reload`);
  assert(await answers.nth(1).locator(".notice-interrupted").count() === 1, "the stopped answer is not shown as cut off");
  assert((await answers.nth(2).locator(".answer").innerText()).includes("217"), "the lighthouse answer is gone");
  assert(await page.locator(`#session-list .session.active[data-id="${ctx.sessionId}"]`).count() === 1, "the session is not the active one");
  // The stored answers render through the same sanitising path.
  await assertInert(page);
});

check("phone_layout_opens_the_sidebar", async () => {
  const context = await newContext("phone", {
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
  });
  await rememberSession(context);
  const page = await context.newPage();
  try {
    await openPage(page);
    await page.waitForFunction(() => document.querySelectorAll("#messages .msg-assistant").length > 0);
    const sidebar = page.locator("#sidebar");
    const menu = page.locator("#menu-button");
    assert(await menu.isVisible(), "no menu button on a phone");
    assert(!(await sidebar.isVisible()), "the sidebar shows before the menu button is pressed");
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert(width <= 390, `the page is ${width}px wide on a 390px screen`);
    await menu.click();
    assert(await menu.getAttribute("aria-expanded") === "true", "menu button aria-expanded");
    await page.waitForFunction(() => {
      const r = document.getElementById("sidebar").getBoundingClientRect();
      return r.left >= 0 && r.width > 200 && getComputedStyle(document.getElementById("sidebar")).visibility === "visible";
    });
    await page.locator("#upload-button").waitFor({ state: "visible" });
    assert(await page.locator(`#session-list .session[data-id="${ctx.sessionId}"]`).isVisible(), "the chat is not listed");
    await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished)));
    await screenshot(page, "phone.png");
    await page.keyboard.press("Escape");
    await sidebar.waitFor({ state: "hidden" });
    assert(await menu.getAttribute("aria-expanded") === "false", "aria-expanded after closing");
    await screenshot(page, "phone-chat.png");
    const violations = await cspViolations(page);
    assert(violations.length === 0, `CSP violations: ${JSON.stringify(violations)}`);
  } finally {
    await context.close();
  }
});

check("dark_mode", async () => {
  const context = await newContext("dark", { colorScheme: "dark" });
  await rememberSession(context);
  const page = await context.newPage();
  try {
    await openPage(page);
    await page.waitForFunction(() => document.querySelectorAll("#messages .msg-assistant").length > 0);
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = (bg.match(/\d+/g) || []).map(Number);
    assert(r + g + b < 150, `body background in dark mode: ${bg}`);
    const fg = await page.evaluate(() => getComputedStyle(document.body).color);
    const [fr, fgg, fb] = (fg.match(/\d+/g) || []).map(Number);
    assert(fr + fgg + fb > 500, `text colour in dark mode: ${fg}`);
    // An upload error in the panel, to see it in dark colours too.
    ctx.expectedFailures += 1;
    await chooseFiles(page, [{ name: "slides.pptx", mimeType: "application/octet-stream", buffer: Buffer.from("PK\x03\x04") }]);
    const { state } = await waitUploadResult(page, "slides.pptx");
    assert(state === "error", `slides.pptx: ${state}`);
    await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished)));
    await screenshot(page, "dark.png");
    const violations = await cspViolations(page);
    assert(violations.length === 0, `CSP violations: ${JSON.stringify(violations)}`);
  } finally {
    await context.close();
  }
});

/* ------------------------------------------------------------------------------------
 * Signing in: a docchat with DOCCHAT_AUTH=required and nothing in front of it, then one
 * whose web server checks a password
 * ---------------------------------------------------------------------------------- */

const DOCCHAT_BIN = process.env.DOCCHAT_BIN;
const TOKEN_SHAPE = /^dc_[A-Za-z0-9_-]{43}$/;

// `docchat token create USER` against the auth site's configuration; the token, which
// this test never prints.
function createToken(user) {
  const r = spawnSync(DOCCHAT_BIN, ["token", "create", user], {
    env: { PATH: process.env.PATH || "/usr/bin:/bin", DOCCHAT_CONFIG: ctx.auth.config },
    encoding: "utf8",
    timeout: 20000,
  });
  assert(r.status === 0, `docchat token create ${user} exited ${r.status}: ${oneLine(r.stderr || "")}`);
  const token = r.stdout.trim();
  assert(TOKEN_SHAPE.test(token), "docchat token create printed something that is not a token");
  return token;
}

// A call to the auth site's API, with a token or without.
async function authApi(method, p, token) {
  const res = await fetch(ctx.auth.base + p, { method, headers: token ? { Authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, challenge: res.headers.get("www-authenticate") };
}

// The API requests the auth site's pages sent since `from` (an index into the record).
const apiRequests = (from = 0) => ctx.auth.requests.slice(from).filter((r) => new URL(r.url).pathname.startsWith("/api/"));

const signInDialog = (page) => page.locator("#signin-dialog");
const focusedId = (page) => page.evaluate(() => document.activeElement && document.activeElement.id);

// Where the token might leak: stored, in the markup, in the password field.
async function tokenTraces(page, token) {
  return page.evaluate((t) => ({
    session: sessionStorage.getItem("docchat.token") === t,
    local: localStorage.getItem("docchat.token") === t,
    markup: document.documentElement.outerHTML.includes(t),
    field: document.getElementById("signin-token").value !== "",
  }), token);
}

check("auth_required_shows_the_sign_in_dialog", async () => {
  const r = await authApi("GET", "/api/sessions");
  assert(r.status === 401 && /^Bearer realm="docchat"/.test(r.challenge || ""), `GET /api/sessions without a token: ${r.status} ${r.challenge}`);
  const context = await newContext("auth");
  ctx.auth.context = context;
  context.on("request", async (req) => {
    const headers = await req.allHeaders().catch(() => req.headers());
    ctx.auth.requests.push({ method: req.method(), url: req.url(), authorization: headers.authorization || null });
  });
  const page = await context.newPage();
  ctx.auth.page = page;
  const res = await page.goto(ctx.auth.base + "/", { waitUntil: "load" });
  assert(res && res.status() === 200, `GET / answered ${res && res.status()}`);
  const dialog = signInDialog(page);
  await dialog.waitFor({ state: "visible" });
  assert(await page.locator("dialog[open]").count() === 1, "more than one dialog is open");
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === "signin-token");
  const field = page.getByLabel("Access token");
  assert(await field.getAttribute("type") === "password", "the token field is not a password field");
  assert(await field.getAttribute("id") === "signin-token", "the label names another field");
  assert(/docchat token create/.test(await dialog.locator("#signin-help").innerText()), "the dialog does not say how a token is made");
  assert(await dialog.locator("#signin-remember").isChecked() === false, "Remember on this device is ticked by default");
  assert(!(await page.locator("#signout-button").isVisible()), "Sign out is shown with no token");
  assert(apiRequests().every((q) => q.authorization === null), "a request carried an Authorization header before signing in");
  await screenshot(page, "sign-in.png");
});

check("sign_in_dialog_cancel_and_reopen_by_keyboard", async () => {
  const page = ctx.auth.page;
  const dialog = signInDialog(page);
  await page.keyboard.press("Escape");
  await dialog.waitFor({ state: "hidden" });
  const signIn = page.locator("#signin-button");
  await signIn.waitFor({ state: "visible" });
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === "signin-button");
  // The lists say why they are empty, and no second dialog comes by itself.
  await page.locator("#documents-note", { hasText: "not signed in" }).waitFor();
  await page.waitForTimeout(300); // a dialog reopening on its own would show by now
  assert(await dialog.isHidden(), "the dialog came back by itself after Cancel");
  await page.keyboard.press("Enter");
  await dialog.waitFor({ state: "visible" });
  assert(await focusedId(page) === "signin-token", "reopened, the focus is not in the token field");
  // Empty: said at once, without asking the server.
  await page.keyboard.press("Enter");
  await dialog.locator("#signin-error", { hasText: "Enter your access token." }).waitFor();
});

check("wrong_token_shows_the_server_error", async () => {
  const page = ctx.auth.page;
  const dialog = signInDialog(page);
  const before = ctx.auth.requests.length;
  await page.keyboard.type(`dc_${"Q".repeat(43)}`);
  await page.keyboard.press("Enter");
  const error = dialog.locator("#signin-error");
  await error.locator("text=/invalid or revoked/").waitFor();
  const text = await error.innerText();
  // docchat's own words (auth.c), as the 401 carries them.
  assert(text.includes("the token is invalid or revoked"), `error shown: ${JSON.stringify(text)}`);
  assert(await error.getAttribute("role") === "alert", "the error is not announced");
  assert(await page.locator("#signin-token").getAttribute("aria-invalid") === "true", "the field is not marked invalid");
  assert(await dialog.isVisible() && await page.locator("dialog[open]").count() === 1, "the dialog closed or doubled");
  assert(await focusedId(page) === "signin-token", "the focus left the token field");
  const tried = apiRequests(before).filter((q) => q.authorization && q.authorization.startsWith("Bearer dc_QQQ"));
  assert(tried.length === 1, `the wrong token was sent ${tried.length} times`);
  await screenshot(page, "sign-in-error.png");
});

check("right_token_signs_in_and_streams_an_answer", async () => {
  const page = ctx.auth.page;
  const token = createToken("alice");
  ctx.auth.token = token;
  await page.evaluate(() => { window.__samePage = true; });
  const before = ctx.auth.requests.length;
  await page.locator("#signin-token").fill(token);
  await page.keyboard.press("Enter");
  await signInDialog(page).waitFor({ state: "hidden" });
  // The lists load in place: no page reload.
  await page.waitForFunction(() => document.querySelectorAll("#document-list .document").length > 0 &&
    document.querySelector("#model-select").options[0].textContent !== "Server default");
  assert(await page.evaluate(() => window.__samePage === true), "the page reloaded to sign in");
  const docs = await listedDocuments(page);
  for (const name of SAMPLE_DOCS) assert(docs.includes(name), `document list ${JSON.stringify(docs)} lacks ${name}`);
  assert(await page.locator("#signout-button").isVisible(), "no Sign out button while a token is in use");
  assert(!(await page.locator("#signin-button").isVisible()), "the Sign in button stays after signing in");
  assert(await focusedId(page) === "question", `the focus is on #${await focusedId(page)}, not the question`);

  await startSampling(page);
  await page.locator("#question").fill("How often should I descale the espresso machine?");
  await page.locator("#question").press("Enter");
  const text = await waitAnswerDone(page);
  const samples = await stopSampling(page);
  assert(/descale/i.test(text), `answer: ${oneLine(text)}`);
  const steps = samples.filter((n, i) => i === 0 || n > Math.max(...samples.slice(0, i)));
  assert(steps.length >= 3, `the answer grew in ${steps.length} step(s): not streamed`);

  const sent = apiRequests(before).filter((q) => !q.url.endsWith("/api/health"));
  const stream = sent.find((q) => q.method === "POST" && /\/api\/chat\/[^/]+\/stream$/.test(q.url));
  assert(stream && stream.authorization === `Bearer ${token}`, "the chat stream was not sent with the token");
  const created = sent.find((q) => q.method === "POST" && q.url.endsWith("/api/sessions"));
  assert(created && created.authorization === `Bearer ${token}`, "POST /api/sessions was not sent with the token");
  const bare = sent.filter((q) => q.authorization !== `Bearer ${token}`).map((q) => `${q.method} ${new URL(q.url).pathname}`);
  assert(bare.length === 0, `API calls without the token after signing in: ${JSON.stringify(bare)}`);
  assert(!ctx.auth.requests.some((q) => q.url.includes(token)), "the token appeared in a URL");
  const traces = await tokenTraces(page, token);
  assert(traces.session && !traces.local, `kept in sessionStorage only by default: ${JSON.stringify(traces)}`);
  assert(!traces.markup && !traces.field, `the token is in the page: ${JSON.stringify(traces)}`);
  // Stored for alice.
  const r = await authApi("GET", "/api/sessions", token);
  assert(r.status === 200 && r.json.sessions.length === 1 && /^How often should I descale/.test(r.json.sessions[0].title),
    `alice's sessions: ${r.status} ${oneLine(JSON.stringify(r.json))}`);
  await showLastQuestion(page);
  await screenshot(page, "signed-in-answer.png");
});

check("upload_sends_the_token", async () => {
  const page = ctx.auth.page;
  const token = ctx.auth.token;
  const before = ctx.auth.requests.length;
  await chooseFiles(page, [{ name: "pemberton-lighthouse.md", mimeType: "text/markdown", buffer: Buffer.from(LIGHTHOUSE_MD) }]);
  const { state, text } = await waitUploadResult(page, "pemberton-lighthouse.md");
  assert(state === "done", `upload result ${state}: ${text}`);
  const posts = apiRequests(before).filter((q) => q.method === "POST" && q.url.endsWith("/api/documents"));
  assert(posts.length === 1 && posts[0].authorization === `Bearer ${token}`, `upload requests: ${JSON.stringify(posts.map((q) => Boolean(q.authorization)))}`);
  const mine = await authApi("GET", "/api/documents", token);
  assert(mine.status === 200 && mine.json.documents.some((d) => d.name === "pemberton-lighthouse.md"), "alice's documents lack the upload");
  const anyone = await authApi("GET", "/api/documents");
  assert(anyone.status === 401, `GET /api/documents without a token: ${anyone.status}`);
});

check("sign_out_forgets_the_token", async () => {
  const page = ctx.auth.page;
  const token = ctx.auth.token;
  await page.locator("#signout-button").click();
  const dialog = signInDialog(page);
  await dialog.waitFor({ state: "visible" });
  assert(await focusedId(page) === "signin-token", "after signing out the focus is not in the token field");
  // Nothing of alice's stays on the page.
  assert(await page.locator("#session-list .session").count() === 0, "alice's chats are still listed");
  assert(await page.locator("#messages .msg").count() === 0, "alice's conversation is still shown");
  assert(await page.locator("#document-list .document-name", { hasText: "pemberton-lighthouse.md" }).count() === 0, "alice's upload is still listed");
  assert(!(await page.locator("#signout-button").isVisible()), "Sign out is still shown");
  let traces = await tokenTraces(page, token);
  assert(!traces.session && !traces.local && !traces.markup, `the token is still kept: ${JSON.stringify(traces)}`);
  await page.reload({ waitUntil: "load" });
  await dialog.waitFor({ state: "visible" });
  traces = await tokenTraces(page, token);
  assert(!traces.session && !traces.local, "the reloaded page found a token");
  // On a phone the dialog fits the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    const box = await dialog.boundingBox();
    assert(box && box.x >= 0 && box.x + box.width <= 390, `the dialog spans ${box && box.x}..${box && box.x + box.width} on a 390px screen`);
    await page.evaluate(() => Promise.all(document.getAnimations().map((a) => a.finished)));
    await screenshot(page, "sign-in-phone.png");
  } finally {
    await page.setViewportSize({ width: 1280, height: 820 });
  }
  // The token itself still works: signing out forgot it here, it did not revoke it.
  assert((await authApi("GET", "/api/sessions", token)).status === 200, "the token stopped working");
});

check("remember_on_this_device_keeps_the_token", async () => {
  const page = ctx.auth.page;
  const token = ctx.auth.token;
  await page.locator("#signin-token").fill(token);
  await page.locator("#signin-remember").check();
  await page.locator("#signin-submit").click();
  await signInDialog(page).waitFor({ state: "hidden" });
  let traces = await tokenTraces(page, token);
  assert(traces.local && !traces.session, `not kept in localStorage: ${JSON.stringify(traces)}`);
  // Another tab (its own sessionStorage) is signed in without asking.
  const tab = await ctx.auth.context.newPage();
  try {
    await openPage(tab, ctx.auth.base);
    await tab.locator("#session-list .session").first().waitFor();
    assert(!(await signInDialog(tab).isVisible()), "the second tab asked for the token");
    await tab.locator("#signout-button").click();
    await signInDialog(tab).waitFor({ state: "visible" });
    traces = await tokenTraces(tab, token);
    assert(!traces.local && !traces.session, `still kept after Sign out: ${JSON.stringify(traces)}`);
    // The first tab, signed in with the same remembered token, follows.
    await signInDialog(page).waitFor({ state: "visible" });
    assert(await page.locator("#session-list .session").count() === 0, "the first tab still lists alice's chats");
    const violations = await cspViolations(page);
    assert(violations.length === 0, `CSP violations: ${JSON.stringify(violations)}`);
  } finally {
    await tab.close();
  }
});

check("revoked_token_asks_again_with_the_reason", async () => {
  const page = ctx.auth.page;
  const token = createToken("alice");
  await page.locator("#signin-token").fill(token);
  await page.locator("#signin-submit").click();
  await signInDialog(page).waitFor({ state: "hidden" });
  await page.locator("#document-list .document").first().waitFor();
  const r = spawnSync(DOCCHAT_BIN, ["token", "revoke", token], {
    env: { PATH: process.env.PATH || "/usr/bin:/bin", DOCCHAT_CONFIG: ctx.auth.config },
    encoding: "utf8",
    timeout: 20000,
  });
  assert(r.status === 0, `docchat token revoke exited ${r.status}: ${oneLine(r.stderr || "")}`);
  // The next call is refused: the page forgets the token and says why.
  await page.locator("#refresh-documents").click();
  const dialog = signInDialog(page);
  await dialog.waitFor({ state: "visible" });
  const text = await dialog.locator("#signin-error").innerText();
  assert(/refused: the token is invalid or revoked/.test(text), `error shown: ${JSON.stringify(text)}`);
  assert(!(await tokenTraces(page, token)).session, "the refused token is still kept");
  // Signing in again with a good token finishes the reload that met the 401.
  await page.locator("#signin-token").fill(ctx.auth.token);
  await page.keyboard.press("Enter");
  await dialog.waitFor({ state: "hidden" });
  await waitFor(async () => (await listedDocuments(page)).includes("pemberton-lighthouse.md"), "alice's documents after signing in again");
  assert(await page.locator("#documents-note").isHidden(), "the documents note still shows an error");
});

check("web_server_login_never_asks_for_a_token", async () => {
  const { base, user, password } = ctx.basic;
  const bare = await fetch(`${base}/api/sessions`);
  assert(bare.status === 401 && /^Basic/i.test(bare.headers.get("www-authenticate") || ""), `without a password: ${bare.status}`);
  const context = await newContext("basic", { httpCredentials: { username: user, password } });
  const bearer = [];
  context.on("request", async (req) => {
    const h = await req.allHeaders().catch(() => req.headers());
    if (/^bearer/i.test(h.authorization || "")) bearer.push(req.url());
  });
  const page = await context.newPage();
  try {
    await openPage(page, base);
    await page.locator("#question").fill("How often should I descale the espresso machine?");
    await page.locator("#question").press("Enter");
    const text = await waitAnswerDone(page);
    assert(/descale/i.test(text), `answer: ${oneLine(text)}`);
    assert(!(await signInDialog(page).isVisible()), "the page asked for a token");
    assert(!(await page.locator("#signin-button").isVisible()) && !(await page.locator("#signout-button").isVisible()),
      "Sign in or Sign out is shown with the web server's login");
    assert(bearer.length === 0, `a bearer token was sent: ${JSON.stringify(bearer)}`);
    // The chat is the web server's user's.
    const auth = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    const r = await fetch(`${base}/api/sessions`, { headers: { Authorization: auth } });
    const json = await r.json();
    assert(r.status === 200 && json.sessions.length === 1, `${user}'s sessions: ${r.status} ${oneLine(JSON.stringify(json))}`);
  } finally {
    await context.close();
  }
});

check("markdown_shown_as_text_without_the_libraries", async () => {
  // vendor/ unreachable (say vendor.sh was never run): the page still works.
  const context = await newContext("no-vendor");
  await context.route("**/vendor/**", (route) => route.abort());
  await rememberSession(context);
  const page = await context.newPage();
  try {
    await openPage(page);
    await page.waitForFunction((n) => document.querySelectorAll("#messages .msg-assistant").length === n, ctx.questions.length);
    const answer = page.locator("#messages .msg-assistant").last();
    const text = await answer.locator(".answer").innerText();
    assert(text.includes("quillwort") && await answer.locator(".answer.plain").count() === 1, `the answer without marked: ${oneLine(text)}`);
    assert(await answer.locator(".answer a.cite").count() >= 1, "no citation links without marked");
    const excerpt = answer.locator(".source-text", { hasText: "Quillwort pond survey" });
    assert(await excerpt.evaluate((e) => e.classList.contains("plain") && e.childElementCount === 0 && e.textContent.includes("**Waders**")),
      "the excerpt is not shown as its plain text");
    await assertInert(page);
    const violations = await cspViolations(page);
    assert(violations.length === 0, `CSP violations: ${JSON.stringify(violations)}`);
  } finally {
    await context.close();
  }
});

check("no_console_errors_or_csp_violations", async () => {
  const violations = ctx.page ? await cspViolations(ctx.page) : [];
  assert(violations.length === 0, `CSP violations: ${JSON.stringify(violations)}`);
  // The uploads refused on purpose each log one failed request (413, 415, 422); nothing
  // else may reach the console.
  const refused = (e) => /Failed to load resource: the server responded with a status of 4(13|15|22)/.test(e.text) &&
    /\/api\/documents$/.test(e.url);
  // The auth site answers 401 until the page signs in (and to the wrong token): the
  // browser logs each such response.
  const unauthorized = (e) => e.page === "auth" && /status of 401/.test(e.text) && /\/api\//.test(e.url);
  // The page that could not load vendor/ on purpose logs each failed script.
  const noVendor = (e) => e.page === "no-vendor" && /\/vendor\//.test(e.url);
  const unexpected = ctx.consoleErrors.filter((e) => !refused(e) && !unauthorized(e) && !noVendor(e));
  assert(unexpected.length === 0, `console errors: ${JSON.stringify(unexpected.map((e) => `${e.page}: ${e.text} ${e.url}`))}`);
  const expectedRefusals = ctx.consoleErrors.filter(refused).length;
  assert(expectedRefusals <= ctx.expectedFailures,
    `${expectedRefusals} refused uploads logged, ${ctx.expectedFailures} expected`);
});

/* ------------------------------------------------------------------------------------
 * Main
 * ---------------------------------------------------------------------------------- */

async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30000,
  });
}

async function main() {
  const started = Date.now();
  // Screenshots of failures from an earlier run would mislead.
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of readdirSync(ARTIFACTS)) if (/^failed-.*\.png$/.test(f)) rmSync(path.join(ARTIFACTS, f));
  const watchdog = setTimeout(() => {
    console.log(`FAIL browser_run: the run took longer than ${RUN_TIMEOUT_MS / 1000} s`);
    process.exit(1);
  }, RUN_TIMEOUT_MS);

  // Without a browser no check can run: say so for each.
  try {
    ctx.browser = await launch();
  } catch (err) {
    const why = oneLine(`Chromium cannot run (${CHROMIUM}; Debian package chromium): ${reason(err).replace(/^Error: browserType.launch: /, "")}`, 300);
    for (const c of checks) console.log(`SKIP ${c.name}: ${why}`);
    clearTimeout(watchdog);
    return 0;
  }

  const servers = startServers();
  try {
    const info = await withTimeout(servers.ready, 60000, "starting the servers");
    ctx.base = `http://127.0.0.1:${info.port}`;
    ctx.state = info.state;
    ctx.auth.base = `http://127.0.0.1:${info.auth.port}`;
    ctx.auth.config = info.auth.config;
    ctx.basic = { base: `http://127.0.0.1:${info.basic.port}`, user: info.basic.user, password: info.basic.password };
  } catch (err) {
    for (const c of checks) console.log(`FAIL ${c.name}: ${reason(err)}`);
    await ctx.browser.close().catch(() => {});
    await servers.stop(true);
    clearTimeout(watchdog);
    return 1;
  }

  for (const c of checks) {
    const t0 = Date.now();
    try {
      await withTimeout(c.fn(), CHECK_TIMEOUT_MS, c.name);
      console.log(`PASS ${c.name}`);
    } catch (err) {
      failures++;
      console.log(`FAIL ${c.name}: ${reason(err)}`);
      if (!(err instanceof CheckFailure) && err && err.stack) process.stderr.write(`${err.stack}\n`);
      if (ctx.page && !ctx.page.isClosed()) {
        await screenshot(ctx.page, `failed-${c.name}.png`).catch(() => {});
      }
    }
    process.stderr.write(`# ${c.name}: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  }

  await ctx.browser.close().catch(() => {});
  await servers.stop(failures > 0);
  clearTimeout(watchdog);
  process.stderr.write(`# browser: ${checks.length - failures} passed, ${failures} failed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${path.relative(process.cwd(), ARTIFACTS) || ARTIFACTS}\n`);
  return failures ? 1 : 0;
}

process.exitCode = await main();
