// Drawing one answer: its markdown (sanitized), the verified mark, the chart, the table, insights, follow-ups and
// the SQL behind a disclosure. Everything the model wrote is text or sanitized HTML, never raw HTML.

import { marked } from "../vendor/marked-18.2.1/marked.esm.js";
import DOMPurify from "../vendor/dompurify-3.4.18/purify.es.mjs";

const VEGA = ["vendor/vega-6.2.0/vega.min.js", "vendor/vega-lite-6.4.1/vega-lite.min.js",
              "vendor/vega-embed-7.0.2/vega-embed.min.js"];
let vegaLoading = null;

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// Model output is untrusted: marked renders it, DOMPurify keeps only harmless markup, links open safely.
export function markdown(text) {
  const html = DOMPurify.sanitize(marked.parse(text || "", { async: false, gfm: true }),
    { USE_PROFILES: { html: true }, FORBID_TAGS: ["style", "form", "input", "img"], FORBID_ATTR: ["style"] });
  const container = h("div", { class: "markdown" });
  container.innerHTML = html;
  for (const link of container.querySelectorAll("a")) {
    link.setAttribute("rel", "noopener noreferrer nofollow");
    link.setAttribute("target", "_blank");
  }
  return container;
}

// The vendored Vega, Vega-Lite and vega-embed are classic scripts of ~800 KB: loaded on the first chart only.
export function loadVega() {
  if (window.vegaEmbed) return Promise.resolve();
  if (!vegaLoading) {
    vegaLoading = VEGA.reduce((previous, src) => previous.then(() => new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = new URL(`../${src}`, import.meta.url).href;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`could not load ${src}`));
      document.head.append(script);
    })), Promise.resolve());
  }
  return vegaLoading;
}

export function table(data, caption) {
  if (!data || !data.columns || !data.columns.length) return null;
  const numeric = (data.column_types || []).map((t) => ["integer", "float", "decimal"].includes(t));
  const head = h("tr", {}, data.columns.map((c, i) => h("th", { scope: "col", class: numeric[i] ? "num" : null }, c)));
  const rows = (data.rows || []).map((row) => h("tr", {}, row.map((cell, i) =>
    h("td", { class: numeric[i] ? "num" : null }, formatCell(cell)))));
  const count = data.row_count ?? (data.rows || []).length;
  const shown = (data.rows || []).length;
  const note = shown < count ? `${shown} of ${count} rows` : `${count} row${count === 1 ? "" : "s"}`;
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `${caption}: ${note}` },
    h("table", {}, h("caption", {}, `${caption} (${note})`), h("thead", {}, head), h("tbody", {}, rows)));
}

function formatCell(cell) {
  if (cell === null || cell === undefined) return "";
  if (typeof cell === "number") return Number.isInteger(cell) ? cell.toLocaleString("en-US")
    : cell.toLocaleString("en-US", { maximumFractionDigits: 4 });
  if (typeof cell === "object") return JSON.stringify(cell);
  return String(cell);
}

// The chart fits its container (a phone's width too): width "container", height kept or the spec's step.
export async function chart(element, chartData) {
  await loadVega();
  const spec = JSON.parse(JSON.stringify(chartData.spec));
  const isArc = spec.mark === "arc" || (spec.mark && spec.mark.type === "arc");
  if (!isArc) {
    spec.width = "container";
    spec.autosize = { type: "fit-x", contains: "padding" };
  }
  const result = await window.vegaEmbed(element, spec, {
    renderer: "svg", actions: false, ast: true, defaultStyle: false, logLevel: window.vega.Warn,
    // vega-tooltip would inject its stylesheet as a <style> element, which the CSP refuses: styles.css holds it.
    tooltip: { disableDefaultStyle: true },
  });
  const svg = element.querySelector("svg");
  if (svg) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", `Chart: ${chartData.title || "answer chart"}`);
  }
  return result;
}

export function stages(progress) {
  const names = Object.keys(progress.stages || {});
  return h("ol", { class: "stages" }, names.map((name) => {
    const status = progress.stages[name].status;
    const ms = progress.stages[name].ms;
    return h("li", { class: `stage ${status}`, "data-stage": name, "data-status": status },
      h("span", { class: "stage-name" }, name),
      h("span", { class: "stage-status" }, status === "done" && ms !== null ? `done, ${Math.round(ms)} ms` : status));
  }));
}

// One turn's answer (a sync answer or a session's stored turn); onFollowUp(question) asks it.
export function answer(container, data, onFollowUp) {
  container.replaceChildren();
  container.append(markdown(data.answer));
  if (data.verified !== null && data.verified !== undefined) {
    container.append(h("p", { class: `verified ${data.verified ? "yes" : "no"}`, "data-verified": String(data.verified) },
      data.verified ? "✓ Verified: every number in the answer is supported by the result"
        : "⚠ Not verified: some numbers are not supported by the result (flagged above)"));
  }
  if (data.chart && data.chart.spec) {
    const holder = h("figure", { class: "chart" },
      h("div", { class: "chart-canvas" }),
      h("figcaption", { class: "visually-hidden" }, data.chart.title || "Chart"));
    container.append(holder);
    chart(holder.firstChild, data.chart).then(() => holder.setAttribute("data-rendered", "true"), (error) => {
      holder.setAttribute("data-rendered", "failed");
      holder.firstChild.replaceChildren(h("p", { class: "error-text" }, `The chart could not be drawn: ${error.message}`));
    });
  }
  const result = table(data.table, "Result");
  if (result) container.append(result);
  if (data.insights && data.insights.length) {
    container.append(h("section", { class: "insights", "aria-label": "Insights" },
      h("h4", {}, "Insights"), h("ul", {}, data.insights.map((text) => h("li", {}, text)))));
  }
  if (data.follow_ups && data.follow_ups.length) {
    container.append(h("nav", { class: "follow-ups", "aria-label": "Follow-up questions" },
      h("h4", {}, "Follow-up questions"),
      h("ul", {}, data.follow_ups.map((question) => h("li", {},
        h("button", { type: "button", class: "follow-up", onclick: () => onFollowUp(question) }, question))))));
  }
  if (data.sql) {
    container.append(h("details", { class: "sql" },
      h("summary", {}, `SQL${data.sql_status && data.sql_status !== "ok" ? ` (${data.sql_status})` : ""}`),
      h("pre", {}, h("code", {}, data.sql)),
      data.sql_error ? h("p", { class: "error-text" }, data.sql_error.message) : null));
  }
}
