// docchat chat page.
//
// Talks to the API described in doc/API.md (mounted at api/ next to this page), with an
// access token when docchat asks for one (see "Signing in"), and streams answers with
// fetch + a ReadableStream reader. Everything the server sends back
// (model output, document text, titles, error messages) is untrusted: Markdown (answers
// and the excerpts of their sources) goes through marked and then DOMPurify; every other
// field is set with textContent. The page runs under a strict Content-Security-Policy, so
// there are no inline scripts or style attributes anywhere.

const API = "api/";

/* ------------------------------------------------------------------------------------
 * Small helpers
 * ---------------------------------------------------------------------------------- */

const $ = (id) => document.getElementById(id);

// Create an element. attrs: plain attributes, plus `text` (textContent), `class`, and
// `on<event>` handlers. Children: nodes or strings (strings become text nodes).
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") el.textContent = value;
    else if (key === "class") el.className = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child);
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const use = document.createElementNS(SVG_NS, "use");
  use.setAttribute("href", `#i-${name}`);
  svg.append(use);
  return svg;
}

const store = {
  get(key, fallback = null) {
    try {
      const v = localStorage.getItem(`docchat.${key}`);
      return v === null ? fallback : JSON.parse(v);
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(`docchat.${key}`, JSON.stringify(value));
    } catch {
      /* storage disabled: settings just are not remembered */
    }
  },
};

function formatMs(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return null;
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`;
}

function formatBytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function percent(x) {
  return typeof x === "number" && Number.isFinite(x) ? `${Math.round(x * 100)}%` : null;
}

const relTime = new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" });
function formatWhen(unix) {
  if (typeof unix !== "number") return "";
  const diff = unix - Date.now() / 1000;
  const abs = Math.abs(diff);
  if (abs < 60) return "just now";
  if (abs < 3600) return relTime.format(Math.round(diff / 60), "minute");
  if (abs < 86400) return relTime.format(Math.round(diff / 3600), "hour");
  if (abs < 7 * 86400) return relTime.format(Math.round(diff / 86400), "day");
  return new Date(unix * 1000).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}

function titleFrom(question) {
  const t = question.replace(/\s+/g, " ").trim();
  return t.length > 60 ? `${t.slice(0, 57).trimEnd()}…` : t;
}

/* ------------------------------------------------------------------------------------
 * API
 * ---------------------------------------------------------------------------------- */

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The message of an HTTP error response: the server's {"error": ...} when there is one.
async function errorText(res) {
  let body = "";
  try {
    body = await res.text();
  } catch {
    /* body unreadable: fall back to the status line */
  }
  try {
    const json = JSON.parse(body);
    if (json && typeof json.error === "string" && json.error) return json.error;
  } catch {
    /* not JSON (a proxy's error page, say) */
  }
  return `${res.status} ${res.statusText || "error"}`.trim();
}

async function api(path, { method = "GET", body, signal } = {}) {
  let res;
  try {
    res = await authFetch(API + path, {
      method,
      signal,
      cache: "no-store",
      headers: body === undefined ? { Accept: "application/json" } : { Accept: "application/json", "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "Could not reach the server. Check your connection.");
  }
  if (!res.ok) throw new ApiError(res.status, await responseError(res));
  if (res.status === 204) return null;
  try {
    return await res.json();
  } catch {
    throw new ApiError(res.status, "The server sent a response that is not valid JSON.");
  }
}

/* ------------------------------------------------------------------------------------
 * Signing in
 *
 * docchat answers 401 to a request from nobody unless the web server authenticated it
 * (REMOTE_USER): the page then asks for an access token, made by `docchat token create`,
 * and sends it as "Authorization: Bearer ..." on every API call. It asks only when a 401
 * carries docchat's own Bearer challenge (a web server's password prompt is the
 * browser's business), and once for all the calls that meet the 401 together: they wait
 * for the dialog and are sent again with the token. The token is kept in sessionStorage,
 * or in localStorage when the reader ticks "Remember on this device"; it is never put in
 * a URL, a log line or the page (the password field is emptied once it is checked).
 * ---------------------------------------------------------------------------------- */

const TOKEN_KEY = "docchat.token";
const NOT_SIGNED_IN = "you are not signed in";
const MAX_SIGN_IN_ROUNDS = 3; // a request asks at most this often before it gives up

const auth = {
  token: null,
  remembered: false,  // the token is in localStorage rather than sessionStorage
  needed: false,      // docchat asked for a token and none is working yet
  declined: false,    // the reader cancelled the dialog: calls made in the background stop asking
  stale: false,       // some call failed for want of a token: reload the lists after signing in
  prompt: null,       // while the dialog is open: the promise every 401 waits for
};

function tokenStorage(remembered) {
  try {
    return remembered ? window.localStorage : window.sessionStorage;
  } catch {
    return null; // storage disabled: the token lasts as long as the page
  }
}

function loadToken() {
  for (const remembered of [false, true]) {
    try {
      const token = tokenStorage(remembered)?.getItem(TOKEN_KEY);
      if (token) {
        auth.token = token;
        auth.remembered = remembered;
        return;
      }
    } catch {
      /* storage disabled */
    }
  }
}

function forgetToken() {
  auth.token = null;
  for (const remembered of [false, true]) {
    try {
      tokenStorage(remembered)?.removeItem(TOKEN_KEY);
    } catch {
      /* storage disabled */
    }
  }
  updateAuthControls();
}

function saveToken(token, remembered) {
  forgetToken();
  auth.token = token;
  auth.remembered = remembered;
  try {
    tokenStorage(remembered)?.setItem(TOKEN_KEY, token);
  } catch {
    /* full or disabled: the token lasts as long as the page */
  }
  updateAuthControls();
}

function authHeaders(headers = {}) {
  return auth.token ? { ...headers, Authorization: `Bearer ${auth.token}` } : { ...headers };
}

// Whether a response asks for a token: a 401 with docchat's Bearer challenge (or with
// none). A 401 from a web server that wants a password is not one: a token cannot help.
function wantsToken(status, challenge) {
  return status === 401 && (!challenge || /\bbearer\b/i.test(challenge));
}

// A 401 met with the token `sent`: returns true when the request should be sent again
// (with the token there is now), false when the reader did not sign in. `refusal` is
// docchat's message, shown when a token that used to work is refused.
async function signInAgain(sent, refusal) {
  // Signed in (or out) while this request was on its way: try again as things are now.
  if (auth.token !== sent) return true;
  auth.needed = true;
  let message = "";
  if (sent) {
    // The kept token stopped working (revoked, or another database): forget it.
    message = `Your token was refused: ${refusal || "it is invalid or revoked"}. Sign in with another one.`;
    forgetToken();
  }
  updateAuthControls();
  if (auth.declined && !auth.prompt) return false;
  return askForToken(message);
}

// fetch() with the token. On a 401 that asks for one it opens the sign-in dialog and,
// once the reader has signed in, sends the request again; the response is returned
// either way (a 401 when the reader cancelled). init.body must be sendable twice.
async function authFetch(url, init = {}) {
  for (let round = 0; ; round++) {
    const sent = auth.token;
    const res = await fetch(url, { ...init, headers: authHeaders(init.headers) });
    if (!wantsToken(res.status, res.headers.get("WWW-Authenticate"))) return res;
    const refusal = sent ? await errorText(res.clone()) : "";
    if (round + 1 >= MAX_SIGN_IN_ROUNDS || !(await signInAgain(sent, refusal))) {
      auth.stale = true;
      return res;
    }
  }
}

// The message of a failed response: docchat's, except for a 401 that wants a token,
// whose text speaks to API clients rather than to the reader.
async function responseError(res) {
  if (wantsToken(res.status, res.headers.get("WWW-Authenticate"))) return NOT_SIGNED_IN;
  return errorText(res);
}

// Opens the sign-in dialog, or joins the one already open. Resolves true once a token
// has been accepted, false if the reader cancelled.
function askForToken(message = "") {
  if (!auth.prompt) {
    auth.prompt = new Promise((resolve) => openSignIn(message, resolve)).finally(() => {
      auth.prompt = null;
    });
  }
  return auth.prompt;
}

let signIn = null; // the open dialog: { done, returnTo }

function setSignInError(text) {
  el.signinError.textContent = text || "";
  el.signinError.hidden = !text;
  if (text) el.signinToken.setAttribute("aria-invalid", "true");
  else el.signinToken.removeAttribute("aria-invalid");
}

function setSignInBusy(busy) {
  el.signinSubmit.disabled = busy;
  el.signinSubmit.textContent = busy ? "Signing in…" : "Sign in";
  el.signinForm.setAttribute("aria-busy", String(busy));
}

function openSignIn(message, done) {
  signIn = { done, returnTo: document.activeElement };
  el.signinToken.value = "";
  el.signinRemember.checked = auth.remembered;
  setSignInError(message);
  setSignInBusy(false);
  updateAuthControls();
  if (!el.signinDialog.open) el.signinDialog.showModal();
  el.signinToken.focus();
}

function closeSignIn(ok) {
  const open = signIn;
  signIn = null;
  el.signinToken.value = "";
  setSignInBusy(false);
  if (el.signinDialog.open) el.signinDialog.close();
  auth.declined = !ok;
  if (ok) auth.needed = false;
  updateAuthControls();
  if (ok) {
    const back = open && open.returnTo;
    const usable = back && back !== document.body && back.isConnected && !back.closest("[hidden], [inert]");
    (usable ? back : el.question).focus();
  } else {
    el.signinButton.focus();
  }
  if (open) open.done(ok);
  // Lists that failed for want of a token load now (the calls still waiting are sent
  // again by authFetch).
  if (ok && auth.stale) {
    auth.stale = false;
    loadAll();
  }
}

async function submitSignIn() {
  if (!signIn || el.signinSubmit.disabled) return;
  const attempt = signIn;
  // Pasted with its header name, or with spaces around it: still the token.
  const token = el.signinToken.value.trim().replace(/^bearer\s+/i, "");
  if (!token) {
    setSignInError("Enter your access token.");
    el.signinToken.focus();
    return;
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    setSignInError("That is not an access token: a token is one word of letters, digits, “-” and “_”, starting with dc_.");
    el.signinToken.focus();
    return;
  }
  setSignInBusy(true);
  let problem = "";
  try {
    // Any call that needs a user will do; the list of chats is a cheap one.
    const res = await fetch(`${API}sessions`, {
      cache: "no-store",
      headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
    });
    if (!res.ok) {
      const challenge = res.headers.get("WWW-Authenticate") || "";
      const text = await errorText(res);
      if (res.status !== 401) problem = `${text} (HTTP ${res.status})`;
      else if (/invalid_token/.test(challenge) || !wantsToken(res.status, challenge)) problem = `Not signed in: ${text}.`;
      // docchat saw no token at all: something between the browser and docchat dropped
      // the header.
      else problem = "The token did not reach docchat: the web server has to pass the Authorization header on. Tell the administrator.";
    }
  } catch {
    problem = "Could not reach the server. Check your connection.";
  }
  if (signIn !== attempt) return; // cancelled meanwhile
  if (problem) {
    setSignInBusy(false);
    setSignInError(problem);
    el.signinToken.focus();
    el.signinToken.select();
    return;
  }
  saveToken(token, el.signinRemember.checked);
  closeSignIn(true);
}

function updateAuthControls() {
  el.signoutButton.hidden = !auth.token;
  el.signinButton.hidden = Boolean(auth.token) || !auth.needed || Boolean(signIn);
}

// Forget the token and everything shown for its user, then ask again.
function signOut() {
  forgetToken();
  showNewUser();
}

// Clear what the page shows for the user it had, and load the lists as whoever the token
// (or its absence) now says.
function showNewUser() {
  stopStreaming();
  auth.declined = false;
  auth.stale = false;
  state.sessions = [];
  state.documents = [];
  state.current = null;
  store.set("session", null);
  store.set("documents", []);
  uploads.queue.length = 0;
  if (uploads.current && uploads.current.xhr) uploads.current.xhr.abort();
  el.uploadList.replaceChildren();
  updateUploadList();
  el.uploadLive.replaceChildren();
  newChat();
  renderDocuments();
  if (!auth.token) announce("Signed out.");
  loadAll();
}

function describeError(err) {
  if (err instanceof ApiError) {
    if (err.status === 0 || (err.status === 401 && err.message === NOT_SIGNED_IN)) return err.message;
    return `${err.message} (HTTP ${err.status})`;
  }
  return err && err.message ? err.message : String(err);
}

/* ------------------------------------------------------------------------------------
 * Server-Sent Events parser (incremental)
 *
 * Fed decoded text in arbitrary pieces, returns the complete events so far. Follows the
 * WHATWG event-stream rules: lines end in CRLF, LF or CR; a blank line dispatches;
 * lines starting with ":" are comments (the server's ": ping"); "field: value" with one
 * optional space after the colon; several data lines join with "\n".
 * ---------------------------------------------------------------------------------- */

export class SSEParser {
  constructor() {
    this.buffer = "";
    this.data = [];
    this.eventType = "";
    this.lastEventId = "";
  }

  // Feed text; pass end = true after the last piece to flush a final unterminated line
  // (an event without its blank line is then dropped, as the standard says).
  push(text, end = false) {
    this.buffer += text;
    const events = [];
    let start = 0;
    const buf = this.buffer;
    for (let i = 0; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      if (c === 13 && i + 1 >= buf.length && !end) break; // maybe CR LF split across pieces
      this.line(buf.slice(start, i), events);
      if (c === 13 && buf.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
    }
    this.buffer = buf.slice(start);
    if (end) {
      if (this.buffer) this.line(this.buffer, events);
      this.buffer = "";
      this.data = [];
      this.eventType = "";
    }
    return events;
  }

  line(line, events) {
    if (line === "") {
      if (this.data.length) {
        events.push({ type: this.eventType || "message", data: this.data.join("\n"), id: this.lastEventId });
      }
      this.data = [];
      this.eventType = "";
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" comment, e.g. ": ping"
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case "data": this.data.push(value); break;
      case "event": this.eventType = value; break;
      case "id": if (!value.includes("\0")) this.lastEventId = value; break;
      default: break; // "retry" and unknown fields: nothing to do for a fetch stream
    }
  }
}

/* ------------------------------------------------------------------------------------
 * Markdown rendering: marked -> DOMPurify -> citation links
 * ---------------------------------------------------------------------------------- */

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

// Raw HTML in model output is shown as text, except a few attribute-less inline tags.
// DOMPurify would remove anything dangerous anyway, but this way no attribute the model
// wrote ever reaches an HTML parser (where the CSP would report it as a violation).
const HARMLESS_TAG = /^<\/?(?:br|sup|sub|kbd|b|i|u|s|em|strong|mark|small|del|ins)\s*\/?>$/i;

// marked and DOMPurify are loaded on their own rather than imported at the top: when
// vendor/ is missing or fails to load, the page still works and shows Markdown as plain
// text (set with textContent, so nothing in it is parsed as HTML).
const [markedModule, purifyModule] = await Promise.all([
  import("./vendor/marked.esm.js").catch(() => null),
  import("./vendor/purify.es.js").catch(() => null),
]);
const DOMPurify = purifyModule && purifyModule.default && purifyModule.default.isSupported ? purifyModule.default : null;
const markdown = markedModule && DOMPurify ? new markedModule.Marked({ gfm: true, breaks: false, async: false }) : null;
if (!markdown) console.warn("docchat: the Markdown libraries in vendor/ did not load; showing answers as plain text");

markdown?.use({
  renderer: {
    html({ text, block }) {
      if (HARMLESS_TAG.test(text.trim())) return text;
      return block ? `<p>${escapeHtml(text.trim())}</p>\n` : escapeHtml(text);
    },
    // Images in model output would load third-party URLs (tracking, or blocked by the
    // CSP): show them as plain links instead.
    image({ href, text }) {
      return `<a href="${escapeHtml(href || "")}">${escapeHtml(text || href || "image")}</a>`;
    },
  },
});

const PURIFY_CONFIG = {
  USE_PROFILES: { html: true },
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "option", "img",
    "picture", "video", "audio", "source", "iframe", "frame", "object", "embed", "link", "meta", "base", "dialog"],
  // No ids/names (they could clobber or collide with the page's src-<msg>-<n> anchors),
  // no classes (no borrowing the page's own styles), no style (blocked by the CSP anyway).
  FORBID_ATTR: ["style", "id", "name", "class", "srcset", "action", "formaction", "target", "tabindex", "autofocus"],
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

DOMPurify?.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A" && node.hasAttribute("href")) {
    const href = node.getAttribute("href");
    if (!href.startsWith("#")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  }
});

function sanitizeMarkdown(text) {
  return DOMPurify.sanitize(markdown.parse(text || ""), PURIFY_CONFIG);
}

// Fill `target` with `text` rendered as sanitized Markdown. beforeShow(fragment), when
// given, may change the rendered nodes (link citations) before they go in. Without the
// libraries the text goes in as it is, and the "plain" class keeps its line breaks.
function renderMarkdown(target, text, beforeShow) {
  let frag;
  if (markdown) {
    frag = sanitizeMarkdown(text);
  } else {
    frag = document.createDocumentFragment();
    frag.append(text || "");
  }
  if (beforeShow) beforeShow(frag);
  target.classList.toggle("plain", !markdown);
  target.replaceChildren(frag);
}

// Turn "[2]" and "[1, 3]" in text nodes into links to the matching sources. Works on
// the sanitized DOM, so nothing here is parsed as HTML.
const CITATION = /\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]/g;
function linkCitations(root, sources, key) {
  const count = Array.isArray(sources) ? sources.length : 0;
  if (!count) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let p = node.parentNode; p && p !== root; p = p.parentNode) {
        if (p.nodeName === "A" || p.nodeName === "CODE" || p.nodeName === "PRE") return NodeFilter.FILTER_REJECT;
      }
      CITATION.lastIndex = 0;
      return CITATION.test(node.data) ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP;
    },
  });
  const nodes = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);

  for (const node of nodes) {
    const text = node.data;
    const frag = document.createDocumentFragment();
    let last = 0;
    let changed = false;
    CITATION.lastIndex = 0;
    for (let m = CITATION.exec(text); m; m = CITATION.exec(text)) {
      const nums = m[1].split(/\s*[,;]\s*/).map(Number);
      if (!nums.every((n) => n >= 1 && n <= count)) continue;
      changed = true;
      // keep the reference on the line of the word it belongs to
      frag.append(text.slice(last, m.index).replace(/ $/, "\u00a0"));
      const group = h("span", { class: "cites" });
      for (const n of nums) {
        const src = sources[n - 1];
        const name = src && src.metadata && src.metadata.document ? String(src.metadata.document) : "";
        group.append(h("a", {
          class: "cite",
          href: `#src-${key}-${n}`,
          "data-source": `src-${key}-${n}`,
          title: name ? `Source ${n}: ${name}` : `Source ${n}`,
          "aria-label": name ? `Source ${n}, ${name}` : `Source ${n}`,
          text: String(n),
        }));
      }
      frag.append(group);
      last = m.index + m[0].length;
    }
    if (!changed) continue;
    frag.append(text.slice(last));
    node.replaceWith(frag);
  }
}

/* ------------------------------------------------------------------------------------
 * Page state
 * ---------------------------------------------------------------------------------- */

const state = {
  sessions: [],
  current: null,        // the open session object, or null for a new, not yet created chat
  documents: [],
  models: { default: "", models: [] },
  streaming: null,      // { controller, view } while an answer streams
  loadToken: 0,         // guards against a slow session load finishing after another one
  liveCounter: 0,
  freshDocuments: new Set(), // ids just uploaded: highlighted once in the list
};

const el = {
  sidebar: $("sidebar"),
  scrim: $("scrim"),
  main: $("main"),
  menuButton: $("menu-button"),
  closeSidebar: $("close-sidebar"),
  newChat: $("new-chat"),
  sessionList: $("session-list"),
  sessionsNote: $("sessions-note"),
  documentList: $("document-list"),
  documentsNote: $("documents-note"),
  refreshDocuments: $("refresh-documents"),
  uploadInput: $("upload-input"),
  uploadButton: $("upload-button"),
  uploadList: $("upload-list"),
  uploadLive: $("upload-live"),
  dropZone: $("drop-zone"),
  chatTitle: $("chat-title"),
  banner: $("banner"),
  conversation: $("conversation"),
  emptyState: $("empty-state"),
  emptyDocs: $("empty-docs"),
  messages: $("messages"),
  composer: $("composer"),
  question: $("question"),
  modelSelect: $("model-select"),
  modeSelect: $("mode-select"),
  docPicker: $("doc-picker"),
  docPickerList: $("doc-picker-list"),
  docPickerNote: $("doc-picker-note"),
  sendButton: $("send-button"),
  stopButton: $("stop-button"),
  confirmDialog: $("confirm-dialog"),
  signinButton: $("signin-button"),
  signoutButton: $("signout-button"),
  signinDialog: $("signin-dialog"),
  signinForm: $("signin-form"),
  signinToken: $("signin-token"),
  signinError: $("signin-error"),
  signinRemember: $("signin-remember"),
  signinCancel: $("signin-cancel"),
  signinSubmit: $("signin-submit"),
  confirmTitle: $("confirm-title"),
  confirmText: $("confirm-text"),
};

/* ------------------------------------------------------------------------------------
 * Scrolling: follow the answer while the reader is at the bottom, never yank them back
 * ---------------------------------------------------------------------------------- */

function nearBottom() {
  const c = el.conversation;
  return c.scrollHeight - c.scrollTop - c.clientHeight < 80;
}
function scrollToBottom() {
  el.conversation.scrollTop = el.conversation.scrollHeight;
}

/* ------------------------------------------------------------------------------------
 * Messages
 * ---------------------------------------------------------------------------------- */

function updateEmptyState() {
  el.emptyState.hidden = el.messages.childElementCount > 0;
}

function addUserMessage(text) {
  const node = h("article", { class: "msg msg-user", "aria-label": "You" },
    h("div", { class: "bubble", text }));
  el.messages.append(node);
  updateEmptyState();
  return node;
}

// One assistant answer on the page: built empty, then filled either live from stream
// events or at once from a stored message.
class AnswerView {
  constructor(key) {
    this.key = key;
    this.text = "";
    this.sources = [];
    this.frame = 0;
    this.statusEl = h("div", { class: "status", hidden: true },
      h("span", { class: "dots", "aria-hidden": "true" }, h("span"), h("span"), h("span")),
      h("span", { class: "status-text" }));
    this.answerEl = h("div", { class: "answer markdown" });
    this.noticeEl = h("div", { class: "notices" });
    this.sourcesEl = h("div", { class: "sources-slot" });
    this.metaEl = h("div", { class: "meta", hidden: true });
    this.el = h("article", { class: "msg msg-assistant", "aria-label": "Answer" },
      this.statusEl, this.answerEl, this.noticeEl, this.metaEl, this.sourcesEl);
  }

  setStatus(text) {
    this.statusEl.hidden = !text;
    this.statusEl.querySelector(".status-text").textContent = text || "";
  }

  setBusy(busy) {
    if (busy) this.el.setAttribute("aria-busy", "true");
    else this.el.removeAttribute("aria-busy");
    this.el.classList.toggle("streaming", busy);
  }

  append(chunk) {
    this.text += chunk;
    this.scheduleRender();
  }

  setText(text) {
    this.text = text;
    this.scheduleRender();
  }

  // Re-render only this answer, at most once per frame.
  scheduleRender() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  render() {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    const follow = nearBottom();
    renderMarkdown(this.answerEl, this.text, (frag) => linkCitations(frag, this.sources, this.key));
    this.answerEl.hidden = this.text === "";
    if (follow) scrollToBottom();
  }

  setSources(sources) {
    const follow = nearBottom();
    this.sources = Array.isArray(sources) ? sources : [];
    this.sourcesEl.replaceChildren();
    if (this.sources.length) this.sourcesEl.append(renderSources(this.sources, this.key));
    if (this.text) this.scheduleRender();
    if (follow) scrollToBottom();
  }

  setMeta(meta, model) {
    const parts = [];
    const m = meta || {};
    const modelName = m.model || model;
    if (modelName) parts.push(h("span", { class: "meta-model", text: String(modelName) }));
    const conf = percent(m.confidence);
    if (conf) parts.push(h("span", { text: `${conf} confidence` }));
    const t = m.timings || {};
    const first = formatMs(t.first_token_ms);
    const total = formatMs(t.total_ms);
    if (first) parts.push(h("span", { text: `first token ${first}` }));
    if (total) parts.push(h("span", { text: `total ${total}` }));
    const unsupported = m.hallucination && Array.isArray(m.hallucination.unsupported) ? m.hallucination.unsupported : [];
    if (unsupported.length) {
      parts.push(h("span", {
        class: "meta-warn",
        title: unsupported.map(String).join("\n"),
        text: `${unsupported.length} unsupported ${unsupported.length === 1 ? "claim" : "claims"}`,
      }));
    }
    if (m.finish_reason && m.finish_reason !== "stop") parts.push(h("span", { text: `ended: ${m.finish_reason}` }));
    this.metaEl.replaceChildren();
    parts.forEach((p, i) => {
      if (i) this.metaEl.append(h("span", { class: "sep", "aria-hidden": "true", text: "·" }));
      this.metaEl.append(p);
    });
    const usage = m.usage || {};
    if (typeof usage.prompt_tokens === "number" || typeof usage.completion_tokens === "number") {
      this.metaEl.title = `Tokens: ${usage.prompt_tokens ?? "?"} prompt, ${usage.completion_tokens ?? "?"} completion`;
    }
    this.metaEl.hidden = parts.length === 0;
  }

  markInterrupted(note = "Stopped — the answer is incomplete.") {
    const follow = nearBottom();
    this.el.classList.add("interrupted");
    this.noticeEl.append(h("p", { class: "notice notice-interrupted" }, h("span", { class: "badge", text: "Interrupted" }), " ", note));
    if (follow) scrollToBottom();
  }

  showError(message, onRetry) {
    const follow = nearBottom();
    this.el.classList.add("failed");
    const box = h("div", { class: "notice notice-error", role: "alert" },
      h("p", { class: "error-text" }, h("strong", { text: "Something went wrong. " }), h("span", { text: message })));
    if (onRetry) {
      box.append(h("button", { class: "btn btn-small", type: "button", onclick: onRetry }, icon("retry"), "Retry"));
    }
    this.noticeEl.append(box);
    if (follow) scrollToBottom();
  }
}

// An excerpt may begin in the middle of a table, below its header: without a header
// and delimiter row marked would show the rows as a paragraph of pipes, so an empty
// header is put back on.
const TABLE_ROW = /^\s*\|.*\|\s*$/;
const TABLE_DELIMITER = /^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$/;
function excerptMarkdown(text) {
  const lines = text.split("\n", 2);
  if (!TABLE_ROW.test(lines[0]) || (lines.length > 1 && TABLE_DELIMITER.test(lines[1]))) return text;
  const cells = lines[0].trim().slice(1, -1).split(/(?<!\\)\|/).length;
  return `${"| ".repeat(cells)}|\n${"|---".repeat(cells)}|\n${text}`;
}

// An excerpt shows its first few lines, faded out at the bottom, with "Show more" when
// there is more of it. Whether there is can only be known once it is laid out (its
// <details> may still be closed) and changes with the width: the observer looks again
// each time the excerpt's size changes.
const excerptFit = new ResizeObserver((entries) => {
  for (const { target } of entries) {
    if (!target.isConnected) {
      excerptFit.unobserve(target);
      continue;
    }
    if (!target.classList.contains("clamped")) continue; // opened: its button says "Show less"
    const over = target.scrollHeight > target.clientHeight + 1;
    target.classList.toggle("overflows", over);
    target.nextElementSibling.hidden = !over;
  }
});

function renderSources(sources, key, open = true) {
  const list = h("ol", { class: "source-list" });
  sources.forEach((src, i) => {
    const n = i + 1;
    const meta = (src && src.metadata) || {};
    const where = [];
    if (meta.heading) where.push(String(meta.heading));
    if (meta.page !== null && meta.page !== undefined) where.push(`p. ${meta.page}`);
    const text = src && typeof src.text === "string" ? src.text.trim() : "";
    // A chunk of the reader's document, often Markdown: rendered like an answer.
    const excerpt = h("div", { class: "source-text markdown clamped" });
    renderMarkdown(excerpt, markdown ? excerptMarkdown(text) : text);
    const more = h("button", { class: "link-btn", type: "button", "aria-expanded": "false", hidden: true, text: "Show more" });
    more.addEventListener("click", () => {
      const open = excerpt.classList.toggle("clamped") === false;
      more.setAttribute("aria-expanded", String(open));
      more.textContent = open ? "Show less" : "Show more";
    });
    const item = h("li", { class: "source", id: `src-${key}-${n}`, tabindex: "-1" },
      h("div", { class: "source-head" },
        h("span", { class: "source-num", text: String(n) }),
        h("span", { class: "source-doc" }, icon("doc"), h("span", { text: meta.document ? String(meta.document) : "Untitled document" })),
        where.length ? h("span", { class: "source-where", text: where.join(" · ") }) : null,
        percent(src && src.score) ? h("span", { class: "source-score", title: "Match score", text: percent(src.score) }) : null),
      excerpt,
      more);
    excerptFit.observe(excerpt);
    list.append(item);
  });
  const names = [...new Set(sources.map((src) => src && src.metadata && src.metadata.document).filter(Boolean).map(String))];
  return h("details", { class: "sources", open },
    h("summary", {},
      h("span", { class: "sources-count", text: sources.length === 1 ? "1 source" : `${sources.length} sources` }),
      names.length ? h("span", { class: "sources-names", text: names.join(", ") }) : null),
    list);
}

// Citation links jump to their source and flash it.
el.messages.addEventListener("click", (e) => {
  const link = e.target.closest("a.cite");
  if (!link) return;
  e.preventDefault();
  const target = document.getElementById(link.dataset.source);
  if (!target) return;
  const details = target.closest("details");
  if (details) details.open = true;
  target.scrollIntoView({ behavior: matchMedia("(prefers-reduced-motion: reduce)").matches ? "auto" : "smooth", block: "nearest" });
  target.focus({ preventScroll: true });
  target.classList.remove("flash");
  void target.offsetWidth; // restart the animation
  target.classList.add("flash");
});

function renderStoredMessages(messages) {
  el.messages.replaceChildren();
  let lastQuestion = null;
  for (const msg of messages || []) {
    if (msg.role === "user") {
      lastQuestion = msg.content || "";
      addUserMessage(lastQuestion);
      continue;
    }
    const view = new AnswerView(`m${msg.id}`);
    el.messages.append(view.el);
    view.sources = Array.isArray(msg.sources) ? msg.sources : [];
    if (view.sources.length) view.sourcesEl.append(renderSources(view.sources, view.key, false));
    view.text = msg.content || "";
    view.render();
    if (msg.metadata || msg.model) view.setMeta(msg.metadata, msg.model);
    const question = lastQuestion;
    const retry = question ? () => ask(question) : null;
    if (msg.status === "interrupted") view.markInterrupted("This answer was cut off before it finished.");
    else if (msg.status === "error") view.showError(msg.error || "The answer failed.", retry);
    else if (msg.status === "streaming") view.noticeEl.append(h("p", { class: "notice", text: "This answer was still being written when the chat was loaded." }));
  }
  updateEmptyState();
}

/* ------------------------------------------------------------------------------------
 * Asking a question: POST .../stream and read the event stream
 * ---------------------------------------------------------------------------------- */

function currentOptions() {
  const opts = { search_mode: el.modeSelect.value };
  if (el.modelSelect.value) opts.model = el.modelSelect.value;
  if (opts.search_mode === "selected") opts.document_ids = selectedDocumentIds();
  return opts;
}

async function ensureSession(question) {
  if (state.current) return state.current;
  const session = await api("sessions", { method: "POST", body: { title: titleFrom(question) } });
  state.current = session;
  store.set("session", session.id);
  el.chatTitle.textContent = session.title || "New chat";
  state.sessions = [session, ...state.sessions.filter((s) => s.id !== session.id)];
  renderSessions();
  return session;
}

async function ask(question, options = currentOptions()) {
  if (state.streaming || !question.trim()) return;
  auth.declined = false; // the reader acts: if docchat wants a token, ask for it now
  if (options.search_mode === "selected" && !(options.document_ids || []).length) {
    updateDocPickerNote(true);
    return;
  }

  const userNode = addUserMessage(question);
  const view = new AnswerView(`n${++state.liveCounter}`);
  el.messages.append(view.el);
  view.setBusy(true);
  view.setStatus("Sending…");
  scrollToBottom();

  const controller = new AbortController();
  state.streaming = { controller, view };
  setStreaming(true);

  const retry = () => {
    userNode.remove();
    view.el.remove();
    ask(question, options);
  };

  let sawDone = false;
  let sawError = false;
  try {
    const session = await ensureSession(question);
    let res;
    try {
      res = await authFetch(`${API}chat/${encodeURIComponent(session.id)}/stream`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify({ question, ...options }),
        signal: controller.signal,
        cache: "no-store",
      });
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "Could not reach the server. Check your connection.");
    }
    if (!res.ok) throw new ApiError(res.status, await responseError(res));
    if (!res.body) throw new Error("This browser cannot read streamed responses.");

    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SSEParser();
    const handle = (events) => {
      for (const ev of events) {
        let msg;
        try {
          msg = JSON.parse(ev.data);
        } catch {
          continue; // not JSON: not one of ours
        }
        if (!msg || typeof msg !== "object") continue;
        switch (msg.type) {
          case "start":
            view.model = msg.model;
            break;
          case "status":
            if (typeof msg.content === "string") view.setStatus(msg.content);
            break;
          case "sources":
            view.setSources(msg.content);
            break;
          case "chunk":
            if (typeof msg.content === "string") {
              view.append(msg.content);
            }
            break;
          case "metadata":
            view.setMeta(msg.content, view.model);
            if (msg.content && typeof msg.content.total_response === "string" && msg.content.total_response !== view.text) {
              view.setText(msg.content.total_response);
            }
            break;
          case "error":
            sawError = true;
            view.showError(typeof msg.content === "string" ? msg.content : "The answer failed.", retry);
            break;
          case "done":
            sawDone = true;
            break;
          default:
            break;
        }
      }
    };
    while (!sawDone) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (err) {
        if (err.name === "AbortError" || controller.signal.aborted) throw err;
        throw new Error("The connection was lost before the answer was complete.");
      }
      if (chunk.done) {
        handle(parser.push(decoder.decode(), true));
        break;
      }
      handle(parser.push(decoder.decode(chunk.value, { stream: true })));
    }
    if (sawDone) reader.cancel().catch(() => {});
    else throw new Error("The connection closed before the answer was complete.");
  } catch (err) {
    if (controller.signal.aborted) {
      view.markInterrupted();
    } else if (!sawError) {
      view.showError(describeError(err), retry);
    }
  } finally {
    const follow = nearBottom();
    view.setStatus("");
    view.setBusy(false);
    view.render();
    if (follow) scrollToBottom();
    if (state.streaming && state.streaming.view === view) {
      state.streaming = null;
      setStreaming(false);
    }
    refreshSessions();
  }
}

function stopStreaming() {
  if (state.streaming) state.streaming.controller.abort();
}

function setStreaming(on) {
  el.stopButton.hidden = !on;
  el.sendButton.hidden = on;
  el.composer.classList.toggle("is-streaming", on);
  if (!on && document.activeElement === document.body) el.question.focus();
}

/* ------------------------------------------------------------------------------------
 * Sessions sidebar
 * ---------------------------------------------------------------------------------- */

async function refreshSessions() {
  try {
    const data = await api("sessions");
    state.sessions = Array.isArray(data && data.sessions) ? data.sessions : [];
    el.sessionsNote.hidden = true;
  } catch (err) {
    el.sessionsNote.textContent = `Could not load chats: ${describeError(err)}`;
    el.sessionsNote.hidden = false;
  }
  if (state.current) {
    const fresh = state.sessions.find((s) => s.id === state.current.id);
    if (fresh) {
      state.current = fresh;
      el.chatTitle.textContent = fresh.title || "Untitled chat";
    }
  }
  renderSessions();
}

function renderSessions() {
  const sessions = [...state.sessions].sort((a, b) => (b.updated_at || 0) - (a.updated_at || 0));
  el.sessionList.replaceChildren();
  for (const s of sessions) {
    const active = state.current && state.current.id === s.id;
    const title = s.title || "Untitled chat";
    const open = h("button", {
      class: "session-open",
      type: "button",
      "aria-current": active ? "page" : null,
      onclick: () => openSession(s.id),
    },
    h("span", { class: "session-title", text: title }),
    h("span", { class: "session-when", text: formatWhen(s.updated_at) }));
    const rename = h("button", { class: "icon-btn small-btn", type: "button", title: "Rename", "aria-label": `Rename “${title}”` }, icon("pencil"));
    const del = h("button", { class: "icon-btn small-btn danger", type: "button", title: "Delete", "aria-label": `Delete “${title}”` }, icon("trash"));
    const item = h("li", { class: active ? "session active" : "session", "data-id": s.id }, open, h("div", { class: "session-actions" }, rename, del));
    rename.addEventListener("click", () => startRename(item, s));
    del.addEventListener("click", () => deleteSession(s));
    el.sessionList.append(item);
  }
  if (!sessions.length && el.sessionsNote.hidden) {
    el.sessionsNote.textContent = "No chats yet.";
    el.sessionsNote.hidden = false;
  } else if (sessions.length && el.sessionsNote.textContent === "No chats yet.") {
    el.sessionsNote.hidden = true;
  }
}

function startRename(item, session) {
  const input = h("input", {
    class: "rename-input",
    type: "text",
    value: session.title || "",
    maxlength: "200",
    "aria-label": "New chat title",
  });
  let finished = false;
  const finish = async (save) => {
    if (finished) return;
    finished = true;
    const title = input.value.replace(/\s+/g, " ").trim();
    if (save && title && title !== session.title) {
      try {
        const updated = await api(`sessions/${encodeURIComponent(session.id)}`, { method: "PATCH", body: { title } });
        Object.assign(session, updated || { title });
        if (state.current && state.current.id === session.id) {
          state.current.title = session.title;
          el.chatTitle.textContent = session.title;
        }
      } catch (err) {
        showBanner(`Could not rename the chat: ${describeError(err)}`);
      }
    }
    renderSessions();
    const again = [...el.sessionList.children].find((li) => li.dataset.id === session.id);
    if (again) again.querySelector(".session-open").focus();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    else if (e.key === "Escape") { e.preventDefault(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
  item.replaceChildren(input);
  input.focus();
  input.select();
}

function confirmDialog(text, title = "Delete chat?") {
  return new Promise((resolve) => {
    const dialog = el.confirmDialog;
    el.confirmTitle.textContent = title;
    el.confirmText.textContent = text;
    const onClose = () => {
      dialog.removeEventListener("close", onClose);
      resolve(dialog.returnValue === "ok");
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    const cancel = dialog.querySelector('button[value="cancel"]');
    if (cancel) cancel.focus();
  });
}

async function deleteSession(session) {
  const ok = await confirmDialog(`“${session.title || "Untitled chat"}” and all its messages will be deleted. This cannot be undone.`);
  if (!ok) return;
  try {
    await api(`sessions/${encodeURIComponent(session.id)}`, { method: "DELETE" });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) {
      showBanner(`Could not delete the chat: ${describeError(err)}`);
      return;
    }
  }
  state.sessions = state.sessions.filter((s) => s.id !== session.id);
  if (state.current && state.current.id === session.id) newChat();
  else renderSessions();
  refreshSessions();
}

async function openSession(id) {
  closeSidebar();
  if (state.current && state.current.id === id && !state.streaming && el.messages.childElementCount) return;
  stopStreaming();
  const token = ++state.loadToken;
  const known = state.sessions.find((s) => s.id === id);
  state.current = known || { id, title: "" };
  el.chatTitle.textContent = (known && known.title) || "Loading…";
  store.set("session", id);
  renderSessions();
  el.messages.replaceChildren(h("p", { class: "loading muted", text: "Loading messages…" }));
  el.emptyState.hidden = true;
  try {
    const data = await api(`sessions/${encodeURIComponent(id)}`);
    if (token !== state.loadToken) return;
    state.current = data;
    el.chatTitle.textContent = data.title || "Untitled chat";
    renderStoredMessages(data.messages);
    scrollToBottom();
  } catch (err) {
    if (token !== state.loadToken) return;
    if (err instanceof ApiError && err.status === 404) {
      store.set("session", null);
      state.sessions = state.sessions.filter((s) => s.id !== id);
      newChat();
      showBanner("That chat no longer exists.");
      return;
    }
    el.messages.replaceChildren();
    const view = new AnswerView("load");
    view.showError(`Could not load this chat: ${describeError(err)}`, () => { state.current = null; openSession(id); });
    el.messages.append(view.el);
    updateEmptyState();
  }
}

function newChat() {
  stopStreaming();
  state.loadToken++;
  state.current = null;
  store.set("session", null);
  el.chatTitle.textContent = "New chat";
  el.messages.replaceChildren();
  updateEmptyState();
  renderSessions();
  closeSidebar();
  el.question.focus();
}

/* ------------------------------------------------------------------------------------
 * Models, search mode and documents
 * ---------------------------------------------------------------------------------- */

async function loadModels() {
  const select = el.modelSelect;
  try {
    const data = await api("models");
    const models = Array.isArray(data && data.models) ? data.models : [];
    state.models = { default: data.default || "", models };
    select.replaceChildren();
    for (const m of models) {
      if (!m || !m.id) continue;
      const label = m.id === data.default ? `${m.id} (default)` : String(m.id);
      select.append(h("option", { value: m.id, text: label }));
    }
    const errors = data.errors && typeof data.errors === "object" ? Object.entries(data.errors) : [];
    for (const [provider, message] of errors) {
      select.append(h("option", { disabled: true, value: "", title: String(message), text: `${provider}: unavailable` }));
    }
    if (errors.length) select.title = errors.map(([p, msg]) => `${p}: ${msg}`).join("\n");
    const remembered = store.get("model");
    const pick = models.some((m) => m.id === remembered) ? remembered : data.default;
    if (pick) select.value = pick;
    if (!select.options.length) select.append(h("option", { value: "", text: "Server default" }));
  } catch (err) {
    select.replaceChildren(h("option", { value: "", text: "Server default" }));
    select.title = `Could not load models: ${describeError(err)}`;
  }
}

function selectedDocumentIds() {
  return [...el.docPickerList.querySelectorAll("input[type=checkbox]:checked")].map((c) => Number(c.value));
}

function updateDocPickerNote(emphasize = false) {
  const selecting = el.modeSelect.value === "selected";
  el.docPicker.hidden = !selecting;
  const none = selecting && selectedDocumentIds().length === 0;
  if (!state.documents.length) {
    el.docPickerNote.textContent = "There are no documents to choose from yet.";
    el.docPickerNote.hidden = !selecting;
  } else {
    el.docPickerNote.textContent = "Choose at least one document.";
    el.docPickerNote.hidden = !none;
  }
  el.docPickerNote.classList.toggle("warn", emphasize && none);
  el.sendButton.disabled = none;
}

function documentName(d) {
  return d && d.name ? String(d.name) : `Document ${d && d.id}`;
}

function renderDocuments() {
  const docs = state.documents;
  // Sidebar panel.
  el.documentList.replaceChildren();
  for (const d of docs) {
    const name = documentName(d);
    const facts = [formatBytes(d.size), typeof d.chunks === "number" ? `${d.chunks} ${d.chunks === 1 ? "chunk" : "chunks"}` : ""].filter(Boolean).join(" · ");
    const del = h("button", {
      class: "icon-btn small-btn danger document-delete",
      type: "button",
      title: "Delete",
      "aria-label": `Delete “${name}”`,
      onclick: () => deleteDocument(d),
    }, icon("trash"));
    el.documentList.append(h("li", {
      class: state.freshDocuments.has(d.id) ? "document fresh" : "document",
      title: name,
      "data-id": String(d.id),
    },
    icon("doc"),
    h("span", { class: "document-name", text: name }),
    h("span", { class: "document-facts", text: facts }),
    del));
  }
  state.freshDocuments.clear();
  if (!docs.length && el.documentsNote.dataset.error !== "1") {
    el.documentsNote.textContent = "No documents yet.";
    el.documentsNote.hidden = false;
  }
  el.emptyDocs.textContent = docs.length
    ? `${docs.length} ${docs.length === 1 ? "document is" : "documents are"} available to search.`
    : "No documents have been added yet; you can still chat with the model directly.";

  // Picker for search_mode "selected".
  const remembered = new Set(store.get("documents", []));
  const before = new Set(selectedDocumentIds());
  el.docPickerList.replaceChildren();
  for (const d of docs) {
    const checked = before.size ? before.has(d.id) : remembered.has(d.id);
    el.docPickerList.append(h("label", { class: "doc-option" },
      h("input", { type: "checkbox", value: String(d.id), checked }),
      h("span", { text: documentName(d) })));
  }
  updateDocPickerNote();
}

async function loadDocuments() {
  try {
    const data = await api("documents");
    state.documents = Array.isArray(data && data.documents) ? data.documents : [];
    el.documentsNote.hidden = true;
    delete el.documentsNote.dataset.error;
  } catch (err) {
    el.documentsNote.textContent = `Could not load documents: ${describeError(err)}`;
    el.documentsNote.dataset.error = "1";
    el.documentsNote.hidden = false;
  }
  renderDocuments();
}

async function deleteDocument(doc) {
  const name = documentName(doc);
  const ok = await confirmDialog(`“${name}” will be removed from your documents, with everything docchat indexed from it. Chats that quoted it keep their answers.`, "Delete document?");
  if (!ok) return;
  // Where the focus goes once the row is gone: the next row's delete button, else the
  // previous one's, else the upload button.
  const rows = [...el.documentList.children];
  const at = rows.findIndex((li) => li.dataset.id === String(doc.id));
  const neighbour = rows[at + 1] || rows[at - 1];
  const neighbourId = neighbour ? neighbour.dataset.id : null;
  let gone = true;
  try {
    await api(`documents/${encodeURIComponent(doc.id)}`, { method: "DELETE" });
  } catch (err) {
    // 404: already deleted elsewhere, or a shared document this user may not delete.
    if (!(err instanceof ApiError && err.status === 404)) {
      showBanner(`Could not delete “${name}”: ${describeError(err)}`);
      return;
    }
    gone = false;
  }
  await loadDocuments();
  const still = state.documents.some((d) => d.id === doc.id);
  if (still && !gone) showBanner(`“${name}” could not be deleted: it belongs to the shared library.`);
  announce(still ? `${name} was not deleted.` : `${name} deleted.`);
  const next = [...el.documentList.children].find((li) => li.dataset.id === neighbourId);
  (next ? next.querySelector(".document-delete") : el.uploadButton).focus();
}

/* ------------------------------------------------------------------------------------
 * Uploads: POST api/documents, one multipart request per file (XMLHttpRequest, for the
 * upload progress), one at a time in the order chosen. Each file gets a row with a
 * progress bar that ends in its result or the server's error message.
 * ---------------------------------------------------------------------------------- */

const uploads = { queue: [], running: false, current: null };

// Screen readers hear each upload's result (the progress itself is not announced).
function announce(text) {
  el.uploadLive.append(h("p", { text }));
  while (el.uploadLive.childElementCount > 4) el.uploadLive.firstElementChild.remove();
}

function updateUploadList() {
  el.uploadList.hidden = el.uploadList.childElementCount === 0;
}

// The server's error message without the file name it starts with ("a.exe": ...), which
// the row shows already.
function uploadMessage(status, message, file) {
  const text = String(message || "").replace(/^"(?:[^"\\]|\\.)*":\s*/, "");
  switch (status) {
    case 413: {
      // "request body of N bytes exceeds DOCCHAT_MAX_UPLOAD (M bytes)": say it plainly.
      const limit = /exceeds \S+ \((\d+) bytes\)/.exec(text);
      return limit
        ? `Too large to upload: ${formatBytes(file.size)}, the limit is ${formatBytes(Number(limit[1]))}.`
        : `Too large to upload (${formatBytes(file.size)}). ${text}`;
    }
    case 415:
    case 422: return text || "The server refused this file.";
    case 0: return text || "Could not reach the server. Check your connection.";
    default: return `${text || "The upload failed."} (HTTP ${status})`;
  }
}

class UploadRow {
  constructor(file) {
    this.file = file;
    this.xhr = null;
    const name = file.name || "unnamed file";
    this.bar = h("progress", { class: "upload-bar", max: "100", "aria-label": `Upload of ${name}` });
    this.pct = h("span", { class: "upload-pct", text: "Waiting…" });
    this.result = h("p", { class: "upload-result", hidden: true });
    this.close = h("button", {
      class: "icon-btn small-btn upload-close",
      type: "button",
      title: "Cancel",
      "aria-label": `Cancel the upload of “${name}”`,
      onclick: () => this.dismiss(),
    }, icon("close"));
    this.el = h("li", { class: "upload", "data-state": "queued" },
      h("div", { class: "upload-head" },
        h("span", { class: "upload-icon" }, icon("doc")),
        h("span", { class: "upload-name", title: name, text: name }),
        this.pct,
        this.close),
      this.bar,
      this.result);
    el.uploadList.append(this.el);
    updateUploadList();
  }

  progress(loaded, total) {
    const p = total > 0 ? Math.min(100, Math.floor((loaded / total) * 100)) : 0;
    this.bar.value = p;
    this.pct.textContent = `${p}%`;
  }

  finish(kind, text) {
    const name = this.file.name || "unnamed file";
    this.xhr = null;
    this.el.dataset.state = kind;
    this.bar.hidden = true;
    this.pct.replaceChildren(icon(kind === "error" ? "alert" : "check"));
    this.result.textContent = text;
    this.result.hidden = false;
    this.close.title = "Dismiss";
    this.close.setAttribute("aria-label", `Dismiss the result for “${name}”`);
    announce(kind === "error" ? `${name} was not added: ${text}` : `${name}: ${text}`);
    // Successes clear themselves after a while; errors stay until dismissed.
    if (kind === "done") this.timer = setTimeout(() => this.remove(), 12000);
  }

  dismiss() {
    if (this.xhr) {
      this.xhr.abort();
      return; // the abort handler finishes the row
    }
    const i = uploads.queue.indexOf(this);
    if (i >= 0) uploads.queue.splice(i, 1);
    const rows = [...el.uploadList.children];
    const next = rows[rows.indexOf(this.el) + 1] || rows[rows.indexOf(this.el) - 1];
    this.remove(true);
    // Keep the focus in the panel rather than dropping it to <body>.
    (next ? next.querySelector(".upload-close") : el.uploadButton).focus();
  }

  // Take the row away; unless forced, not while the reader is on it (it then goes a
  // little later).
  remove(force = false) {
    clearTimeout(this.timer);
    if (!force && (this.el.contains(document.activeElement) || this.el.matches(":hover"))) {
      this.timer = setTimeout(() => this.remove(), 4000);
      return;
    }
    this.el.remove();
    updateUploadList();
  }
}

// round: how often this file met a 401 that asked for a token (see authFetch).
function sendUpload(row, round = 0) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const sent = auth.token;
    row.xhr = xhr;
    row.el.dataset.state = "uploading";
    row.progress(0, 1);
    const form = new FormData();
    form.append("file", row.file, row.file.name);
    xhr.open("POST", `${API}documents`);
    for (const [name, value] of Object.entries(authHeaders({ Accept: "application/json" }))) xhr.setRequestHeader(name, value);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) row.progress(e.loaded, e.total);
    });
    // Sent: docchat now extracts, chunks and indexes the text.
    xhr.upload.addEventListener("load", () => {
      row.bar.value = 100;
      row.pct.textContent = "Indexing…";
    });
    xhr.addEventListener("load", async () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON: a proxy's error page, say */
      }
      if (wantsToken(xhr.status, xhr.getResponseHeader("WWW-Authenticate"))) {
        row.xhr = null;
        row.pct.textContent = "Signing in…";
        const refusal = body && typeof body.error === "string" ? body.error : "";
        if (round + 1 < MAX_SIGN_IN_ROUNDS && await signInAgain(sent, refusal)) {
          resolve(sendUpload(row, round + 1));
          return;
        }
        auth.stale = true;
        row.finish("error", "Not added: you are not signed in.");
        resolve(false);
        return;
      }
      if (xhr.status === 201 && body && Array.isArray(body.documents)) {
        const docs = body.documents;
        for (const d of docs) if (d && typeof d.id === "number") state.freshDocuments.add(d.id);
        const d = docs[0] || {};
        let text;
        if (d.existed) {
          text = d.name && d.name !== row.file.name ? `Already in your documents as “${d.name}”.` : "Already in your documents.";
        } else {
          const chunks = typeof d.chunks === "number" ? ` · ${d.chunks} ${d.chunks === 1 ? "chunk" : "chunks"}` : "";
          text = `Added${chunks}.`;
        }
        row.finish("done", text);
        resolve(true);
        return;
      }
      const message = body && typeof body.error === "string" && body.error ? body.error : `${xhr.status} ${xhr.statusText || "error"}`;
      row.finish("error", uploadMessage(xhr.status, message, row.file));
      // A refused file may come after files of the same request that were stored.
      resolve(Boolean(body && Array.isArray(body.documents) && body.documents.length));
    });
    xhr.addEventListener("error", () => {
      row.finish("error", uploadMessage(0, "", row.file));
      resolve(false);
    });
    xhr.addEventListener("abort", () => {
      row.xhr = null;
      row.el.dataset.state = "cancelled";
      row.remove(true);
      announce(`The upload of ${row.file.name || "unnamed file"} was cancelled.`);
      el.uploadButton.focus();
      resolve(false);
    });
    xhr.send(form);
  });
}

async function runUploads() {
  if (uploads.running) return;
  uploads.running = true;
  try {
    while (uploads.queue.length) {
      const row = uploads.queue.shift();
      uploads.current = row;
      if (await sendUpload(row)) document.dispatchEvent(new CustomEvent("docchat:documents-changed"));
    }
  } finally {
    uploads.current = null;
    uploads.running = false;
  }
}

function uploadFiles(files) {
  const list = [...(files || [])];
  if (!list.length) return;
  auth.declined = false; // as for a question: a 401 now opens the sign-in dialog
  for (const file of list) uploads.queue.push(new UploadRow(file));
  // On a phone the panel is in the hidden sidebar: show it, so the progress is seen.
  if (narrow.matches && !document.body.classList.contains("sidebar-open")) openSidebar(el.uploadButton);
  runUploads();
}

el.uploadButton.addEventListener("click", () => el.uploadInput.click());
el.uploadInput.addEventListener("change", () => {
  uploadFiles(el.uploadInput.files);
  el.uploadInput.value = ""; // choosing the same file again fires "change" again
});

// Files dragged over the page show the drop zone; dropped anywhere, they upload.
let dragDepth = 0;
const carriesFiles = (e) => e.dataTransfer && [...e.dataTransfer.types].includes("Files");
function endDrag() {
  dragDepth = 0;
  el.dropZone.hidden = true;
}
document.addEventListener("dragenter", (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault();
  dragDepth++;
  el.dropZone.hidden = false;
});
document.addEventListener("dragover", (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = "copy";
  el.dropZone.hidden = false;
});
document.addEventListener("dragleave", (e) => {
  if (!carriesFiles(e)) return;
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) el.dropZone.hidden = true;
});
document.addEventListener("drop", (e) => {
  if (!carriesFiles(e)) return;
  e.preventDefault();
  endDrag();
  uploadFiles(e.dataTransfer.files);
});
window.addEventListener("blur", endDrag);

/* ------------------------------------------------------------------------------------
 * Banner, sidebar, composer
 * ---------------------------------------------------------------------------------- */

function showBanner(text) {
  el.banner.replaceChildren(
    h("span", { text }),
    h("button", { class: "icon-btn small-btn", type: "button", "aria-label": "Dismiss", onclick: () => { el.banner.hidden = true; } }, icon("close")));
  el.banner.hidden = false;
}

async function checkHealth() {
  try {
    const res = await fetch(`${API}health`, { cache: "no-store", headers: authHeaders() });
    if (res.ok) return;
    let detail = "";
    try {
      const j = await res.json();
      detail = j && j.database && j.database !== "ok" ? ` (database: ${j.database})` : j && j.error ? ` (${j.error})` : "";
    } catch { /* not JSON */ }
    showBanner(`The docchat service reports a problem${detail}. Answers may fail.`);
  } catch {
    showBanner("Cannot reach the docchat service. Answers will fail until it is back.");
  }
}

const narrow = matchMedia("(max-width: 760px)");

function openSidebar(focus = el.newChat) {
  document.body.classList.add("sidebar-open");
  el.menuButton.setAttribute("aria-expanded", "true");
  el.scrim.hidden = false;
  if (narrow.matches) el.main.inert = true;
  focus.focus();
}

function closeSidebar() {
  if (!document.body.classList.contains("sidebar-open")) return;
  document.body.classList.remove("sidebar-open");
  el.menuButton.setAttribute("aria-expanded", "false");
  el.scrim.hidden = true;
  el.main.inert = false;
  if (narrow.matches) el.menuButton.focus();
}

narrow.addEventListener("change", () => {
  if (!narrow.matches) {
    document.body.classList.remove("sidebar-open");
    el.scrim.hidden = true;
    el.main.inert = false;
    el.menuButton.setAttribute("aria-expanded", "false");
  }
});

el.menuButton.addEventListener("click", () => {
  if (document.body.classList.contains("sidebar-open")) closeSidebar();
  else openSidebar();
});
el.closeSidebar.addEventListener("click", closeSidebar);
el.scrim.addEventListener("click", closeSidebar);
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && document.body.classList.contains("sidebar-open") && !el.confirmDialog.open && !el.signinDialog.open) closeSidebar();
});

el.signinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  submitSignIn();
});
el.signinCancel.addEventListener("click", () => closeSignIn(false));
// Escape closes the dialog by itself (the browser may skip the "cancel" event): either
// way it ends here, as a Cancel.
el.signinDialog.addEventListener("close", () => {
  if (signIn) closeSignIn(false);
});
el.signinButton.addEventListener("click", async () => {
  auth.declined = false;
  auth.stale = true; // whatever is on the page was loaded without a token
  await askForToken();
});
el.signoutButton.addEventListener("click", signOut);
// Another tab signed out, or in as someone else, with the token remembered on this
// device: this tab follows.
window.addEventListener("storage", (e) => {
  if (!auth.token || !auth.remembered || (e.key !== null && e.key !== TOKEN_KEY)) return;
  if (e.storageArea && e.storageArea !== tokenStorage(true)) return;
  const now = e.key === null ? null : e.newValue;
  if (now === auth.token) return;
  auth.token = now;
  updateAuthControls();
  showNewUser();
});

el.newChat.addEventListener("click", newChat);
el.refreshDocuments.addEventListener("click", loadDocuments);
document.addEventListener("docchat:documents-changed", loadDocuments);

el.modelSelect.addEventListener("change", () => store.set("model", el.modelSelect.value));
el.modeSelect.addEventListener("change", () => {
  store.set("mode", el.modeSelect.value);
  updateDocPickerNote();
});
el.docPickerList.addEventListener("change", () => {
  store.set("documents", selectedDocumentIds());
  updateDocPickerNote();
});

// The textarea grows with its content: CSS field-sizing where the browser has it,
// otherwise through the CSSOM (allowed by the CSP, unlike style attributes).
const growsByItself = typeof CSS !== "undefined" && CSS.supports && CSS.supports("field-sizing", "content");
function autosize() {
  if (growsByItself) return;
  el.question.style.height = "auto";
  el.question.style.height = `${Math.min(el.question.scrollHeight, 240)}px`;
}
el.question.addEventListener("input", autosize);

function submitQuestion() {
  if (state.streaming || el.sendButton.disabled) return;
  const question = el.question.value;
  if (!question.trim()) {
    el.question.focus();
    return;
  }
  el.question.value = "";
  autosize();
  ask(question);
}

el.question.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
    e.preventDefault();
    submitQuestion();
  }
});
el.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  submitQuestion();
});
el.stopButton.addEventListener("click", () => {
  stopStreaming();
  el.question.focus();
});

/* ------------------------------------------------------------------------------------
 * Start
 * ---------------------------------------------------------------------------------- */

// Models, documents and chats; then the chat the reader had open, if it is still there.
async function loadAll() {
  await Promise.all([loadModels(), loadDocuments(), refreshSessions()]);
  const last = store.get("session");
  if (!state.current && last && state.sessions.some((s) => s.id === last)) await openSession(last);
  else updateEmptyState();
}

async function start() {
  const mode = store.get("mode");
  if (["all", "selected", "none"].includes(mode)) el.modeSelect.value = mode;
  updateDocPickerNote();
  loadToken();
  updateAuthControls();
  checkHealth();
  await loadAll();
  // Not when the reader cancelled the sign-in: the focus is on the Sign in button then.
  if (!auth.declined) el.question.focus();
}

start();

// For other scripts and for debugging from the console.
window.docchat = { refreshDocuments: loadDocuments, refreshSessions, uploadFiles, SSEParser };
