// The session list: open, rename and delete a conversation.

import { h } from "./render.js";

export async function refreshSessions(ctx) {
  const { sessions } = await ctx.api.sessions(50);
  const list = document.getElementById("session-list");
  if (!sessions.length) {
    list.replaceChildren(h("li", { class: "empty" }, "No sessions yet: ask a question."));
    return;
  }
  list.replaceChildren(...sessions.map((session) => item(ctx, session)));
}

function item(ctx, session) {
  const current = ctx.state.sessionId === session.id;
  const when = new Date(session.updated_at).toLocaleString();
  const li = h("li", { class: `session${current ? " current" : ""}`, "data-session": session.id },
    h("button", { type: "button", class: "link session-open", "aria-current": current ? "true" : null,
                  onclick: () => ctx.openSession(session.id).catch(ctx.alert) }, session.title),
    h("span", { class: "meta" }, `${session.domain} · ${session.turn_count} turn${session.turn_count === 1 ? "" : "s"} · ${when}`),
    h("span", { class: "row-actions" },
      h("button", { type: "button", class: "secondary small session-rename", "aria-label": `Rename ${session.title}`,
                    onclick: () => rename(ctx, li, session) }, "Rename"),
      h("button", { type: "button", class: "danger small session-delete", "aria-label": `Delete ${session.title}`,
                    onclick: () => remove(ctx, session).catch(ctx.alert) }, "Delete")));
  return li;
}

function rename(ctx, li, session) {
  const id = `rename-${session.id}`;
  const input = h("input", { id, value: session.title, maxlength: "200", required: true, autocomplete: "off" });
  const form = h("form", { class: "rename-form" },
    h("label", { for: id }, "New title"), input,
    h("button", { type: "submit", class: "small" }, "Save"),
    h("button", { type: "button", class: "secondary small", onclick: () => refreshSessions(ctx).catch(ctx.alert) },
      "Cancel"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const title = input.value.trim();
    if (!title) {
      ctx.alert("A title needs at least one character.");
      input.focus();
      return;
    }
    try {
      const updated = await ctx.api.renameSession(session.id, title);
      if (ctx.state.sessionId === session.id) ctx.setTitle(updated.title || title);
      await refreshSessions(ctx);
      ctx.announce(`Session renamed to ${title}.`);
      const again = document.querySelector(`[data-session="${session.id}"] .session-open`);
      if (again) again.focus();
    } catch (error) {
      ctx.alert(error);
    }
  });
  li.replaceChildren(form);
  input.focus();
  input.select();
}

async function remove(ctx, session) {
  if (!window.confirm(`Delete "${session.title}" with its answers and charts?`)) return;
  await ctx.api.deleteSession(session.id);
  if (ctx.state.sessionId === session.id) ctx.newConversation();
  await refreshSessions(ctx);
  ctx.announce(`Session "${session.title}" deleted.`);
  document.getElementById("sessions-title").focus?.();
}
