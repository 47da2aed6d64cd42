// The console's entry point: sign-in, the conversation (streamed answers) and the PDF export.

import { Api, ApiError, clearCredentials, loadCredentials, saveCredentials } from "./api.js";
import { readEvents } from "./sse.js";
import { answer, h, stages } from "./render.js";
import { refresh as refreshData, setUpData } from "./data.js";
import { refreshSessions } from "./sessions.js";

const $ = (id) => document.getElementById(id);

const ctx = {
  api: null,
  state: { sessionId: null, title: null, asking: false },
  alert: showAlert,
  clearAlert,
  announce: (text) => { $("export-status").textContent = text; },
  openSession,
  newConversation,
  setTitle,
};

function showAlert(error) {
  const box = $("alert");
  const message = typeof error === "string" ? error : error.message || String(error);
  const id = error instanceof ApiError && error.requestId ? ` (request ${error.requestId})` : "";
  box.replaceChildren(h("span", {}, message + id),
    h("button", { type: "button", class: "secondary small", onclick: clearAlert }, "Dismiss"));
  box.hidden = false;
  if (error instanceof ApiError && error.status === 401) signOut(false);
}

function clearAlert() {
  $("alert").hidden = true;
  $("alert").replaceChildren();
}

// --- Sign-in ---------------------------------------------------------------------------------------------

function setUpSignIn() {
  const form = $("sign-in-form");
  const sync = () => {
    const method = form.elements.method.value;
    $("field-user").hidden = method !== "dev";
    $("field-token").hidden = method === "dev";
    $("token-label").textContent = method === "apikey" ? "API key" : "Firebase ID token";
  };
  for (const radio of form.elements.method) radio.addEventListener("change", sync);
  sync();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const method = form.elements.method.value;
    const credentials = { method, base: form.elements["api-base"].value.trim() };
    if (method === "dev") credentials.user = form.elements.user.value.trim();
    else credentials.token = form.elements.token.value.trim();
    if (!(credentials.user || credentials.token)) {
      showAlert(method === "dev" ? "Enter a user name." : "Paste your credential.");
      (method === "dev" ? form.elements.user : form.elements.token).focus();
      return;
    }
    await signIn(credentials);
  });
  $("sign-out").addEventListener("click", () => signOut(true));
}

async function signIn(credentials, restored = false) {
  const api = new Api(credentials);
  try {
    const me = await api.me();
    clearAlert();
    if (!restored) saveCredentials(credentials); // a restored sign-in is already kept (and may be cleared meanwhile)
    ctx.api = api;
    $("whoami").textContent = `Signed in as ${me.user_id} (${me.method})`;
    $("sign-in").hidden = true;
    $("workspace").hidden = false;
    $("sign-out").hidden = false;
    await Promise.all([refreshData(ctx), refreshSessions(ctx), loadModels()]);
    if (!restored) $("upload-domain").focus(); // a reload keeps the focus where the browser puts it

  } catch (error) {
    $("sign-in").hidden = false;
    showAlert(error);
  }
}

function signOut(manual) {
  clearCredentials();
  ctx.api = null;
  $("workspace").hidden = true;
  $("sign-in").hidden = false;
  $("sign-out").hidden = true;
  $("whoami").textContent = manual ? "Signed out." : "Your sign-in was refused: sign in again.";
  $("turns").replaceChildren();
  ctx.state.sessionId = null;
}

async function loadModels() {
  const select = $("ask-model");
  const { models } = await ctx.api.models();
  select.replaceChildren(h("option", { value: "" }, "Default (the deployment's models)"),
    ...models.map((m) => h("option", { value: m.id },
      m.source === "offline" ? `${m.id} (offline, no LLM)` : `${m.id}${m.source === "your_key" ? " (your key)" : ""}`)));
}

// --- Conversation ------------------------------------------------------------------------------------------

function setTitle(title) {
  ctx.state.title = title;
  $("conversation-title").textContent = title || "New conversation";
  $("export-pdf").disabled = !ctx.state.sessionId;
}

function newConversation() {
  ctx.state.sessionId = null;
  $("turns").replaceChildren();
  setTitle(null);
  $("ask-prompt").focus();
}

async function openSession(id) {
  const session = await ctx.api.session(id);
  ctx.state.sessionId = session.id;
  $("turns").replaceChildren();
  for (const turn of session.turns || []) {
    const { body } = addTurn(turn.question);
    body.removeAttribute("aria-busy");
    answer(body, turn, ask);
  }
  if (session.domain) $("ask-domain").value = session.domain;
  setTitle(session.title);
  await refreshSessions(ctx);
  $("ask-prompt").focus();
}

function addTurn(question) {
  // Only the one-line summary is announced ("3 of 6 stages done, now visualizer"); the stage list is for the eye.
  const summary = h("p", { class: "stage-summary", role: "status", "aria-live": "polite" });
  const stageList = h("div", { class: "stage-list" });
  const progress = h("div", { class: "progress" }, summary, stageList);
  const draft = h("p", { class: "draft" });
  const body = h("div", { class: "answer", "aria-live": "polite", "aria-busy": "true" }, draft);
  const turn = h("li", { class: "turn" },
    h("article", {}, h("h3", { class: "question" }, question), progress, body));
  $("turns").append(turn);
  return { turn, progress, summary, stageList, draft, body };
}

async function ask(question) {
  const prompt = (question ?? $("ask-prompt").value).trim();
  const domain = $("ask-domain").value;
  if (!prompt || !domain || ctx.state.asking) {
    if (!prompt) showAlert("Type a question first.");
    else if (!domain) showAlert("Upload a dataset first: questions are asked of a domain's datasets.");
    return;
  }
  clearAlert();
  ctx.state.asking = true;
  $("ask-submit").disabled = true;
  $("ask-prompt").value = "";
  $("preview").hidden = true; // the answer takes its place
  const view = addTurn(prompt);
  view.turn.scrollIntoView({ block: "start" });
  const body = { domain, prompt };
  if (ctx.state.sessionId) body.session_id = ctx.state.sessionId;
  if ($("ask-model").value) body.model = $("ask-model").value;
  let final = null;
  let draft = "";
  try {
    const response = await ctx.api.ask(body);
    await readEvents(response, (name, data) => {
      if (name === "progress") {
        view.summary.textContent =
          `${data.stages_done} of ${data.stages_total} stages done${data.current_stage ? `, now ${data.current_stage}` : ""}`;
        view.stageList.replaceChildren(stages(data));
        if (data.session_id && !ctx.state.sessionId) ctx.state.sessionId = data.session_id;
      } else if (name === "token") {
        draft += data.text;
        view.draft.textContent = draft;
      } else if (name === "reset") {
        draft = "";
        view.draft.textContent = "";
      } else if (name === "answer") {
        final = data;
      } else if (name === "error") {
        throw new ApiError(0, data.error.code, data.error.message, data.error.request_id);
      } else if (name === "end" && data.status !== "succeeded" && !final) {
        throw new ApiError(0, "question_failed", `The question ended: ${data.status}.`, null);
      }
    });
    if (!final) throw new ApiError(0, "stream_ended", "The answer stream ended without an answer.", null);
    ctx.state.sessionId = final.session_id;
    view.body.removeAttribute("aria-busy");
    answer(view.body, final, ask);
    view.turn.setAttribute("data-done", "true");
    if (!ctx.state.title) setTitle(prompt.slice(0, 80));
    $("export-pdf").disabled = false;
    refreshSessions(ctx).catch(showAlert);
  } catch (error) {
    view.body.removeAttribute("aria-busy");
    view.body.replaceChildren(h("p", { class: "error-text" }, `No answer: ${error.message}`));
    view.turn.setAttribute("data-done", "failed");
    showAlert(error);
  } finally {
    ctx.state.asking = false;
    $("ask-submit").disabled = false;
    $("ask-prompt").focus();
  }
}

function setUpAsk() {
  const form = $("ask-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask();
  });
  $("ask-prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  $("new-conversation").addEventListener("click", newConversation);
  $("refresh-sessions").addEventListener("click", () => refreshSessions(ctx).catch(showAlert));
  $("export-pdf").addEventListener("click", () => exportPdf().catch(showAlert));
}

async function exportPdf() {
  if (!ctx.state.sessionId) return;
  const status = $("export-status");
  status.textContent = "Exporting the session to PDF…";
  const { blob, pages, partial } = await ctx.api.exportSession(ctx.state.sessionId, $("export-sql").checked);
  const name = `${(ctx.state.title || "session").replace(/[^\w -]+/g, "").trim().slice(0, 60) || "session"}.pdf`;
  const url = URL.createObjectURL(blob);
  const link = h("a", { href: url, download: name, id: "pdf-link", "data-pages": String(pages),
                        "data-bytes": String(blob.size) }, `Download ${name}`);
  status.replaceChildren(`PDF ready: ${pages} page${pages === 1 ? "" : "s"}, ${Math.round(blob.size / 1024)} KB${partial ? " (partial)" : ""}. `, link);
  link.click();
}

// --- Start ------------------------------------------------------------------------------------------------

setUpSignIn();
setUpData(ctx);
setUpAsk();
const saved = loadCredentials();
if (saved) {
  const form = $("sign-in-form");
  form.elements.method.value = saved.method;
  form.querySelector("input[name=method]:checked").dispatchEvent(new Event("change"));
  $("sign-in").hidden = true; // no flash of the sign-in form while the kept sign-in is checked
  signIn(saved, true);
}
