// Uploads (multipart with progress, or a signed URL for large files) and the domains and datasets with a preview.

import { h, table } from "./render.js";

const SIGNED_ABOVE = 8 * 1024 * 1024;

export function setUpData(ctx) {
  const form = document.getElementById("upload-form");
  const progress = document.getElementById("upload-progress");
  const percent = document.getElementById("upload-percent");
  const status = document.getElementById("upload-status");
  const submit = document.getElementById("upload-submit");

  const setProgress = (share) => {
    const value = Math.round(share * 100);
    progress.value = value;
    percent.textContent = `${value}%`;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const domain = form.elements.domain.value.trim();
    const file = form.elements.file.files[0];
    if (!domain || !file) {
      ctx.alert(!domain ? "Name the domain the dataset goes into." : "Choose a file to upload.");
      (domain ? form.elements.file : form.elements.domain).focus();
      return;
    }
    const name = form.elements.name.value.trim();
    const signed = form.elements.signed.checked || file.size > SIGNED_ABOVE;
    ctx.clearAlert();
    submit.disabled = true;
    setProgress(0);
    status.textContent = `Uploading ${file.name}${signed ? " through a signed URL" : ""}…`;
    try {
      let record;
      if (signed) {
        const done = await ctx.api.uploadSigned(domain, file, name, setProgress, (text) => { status.textContent = text; });
        record = { name: done.name || name, domain, rows: done.rows, version: done.version };
      } else {
        record = await ctx.api.uploadMultipart(domain, file, name, setProgress);
      }
      setProgress(1);
      status.textContent = `${record.name} is ready in ${domain}: ${record.rows} rows (version ${record.version}).`;
      form.elements.file.value = "";
      form.elements.name.value = "";
      await refresh(ctx, domain);
      await preview(ctx, domain, record.name);
    } catch (error) {
      status.textContent = "The upload failed.";
      ctx.alert(error);
    } finally {
      submit.disabled = false;
    }
  });

  document.getElementById("refresh-data").addEventListener("click", () => refresh(ctx).catch(ctx.alert));
  document.getElementById("close-preview").addEventListener("click", () => {
    document.getElementById("preview").hidden = true;
  });
}

export async function refresh(ctx, select) {
  const { domains } = await ctx.api.domains();
  const list = document.getElementById("domain-list");
  const options = document.getElementById("domain-options");
  const askDomain = document.getElementById("ask-domain");
  const current = select || askDomain.value;
  options.replaceChildren(...domains.map((d) => h("option", { value: d.name })));
  askDomain.replaceChildren(...domains.map((d) => h("option", { value: d.name }, d.name)));
  if (!domains.length) {
    askDomain.append(h("option", { value: "" }, "upload a dataset first"));
    list.replaceChildren(h("p", { class: "empty" }, "No datasets yet: upload a file above."));
    return;
  }
  if (domains.some((d) => d.name === current)) askDomain.value = current;
  const groups = await Promise.all(domains.map(async (d) => ({ domain: d, detail: await ctx.api.datasets(d.name) })));
  list.replaceChildren(...groups.map(({ domain, detail }) => h("div", { class: "domain" },
    h("h3", {}, domain.name),
    h("ul", {}, detail.datasets.map((dataset) => h("li", { class: "dataset" },
      h("button", { type: "button", class: "link", "data-dataset": dataset.name,
                    onclick: () => preview(ctx, domain.name, dataset.name).catch(ctx.alert) },
        dataset.name),
      h("span", { class: "meta" }, ` ${dataset.rows} rows · v${dataset.version}`))),
    (detail.linked || []).map((link) => h("li", { class: "dataset" },
      h("span", {}, link.name || link.table), h("span", { class: "meta" }, " linked PostgreSQL table")))))));
}

export async function preview(ctx, domain, name) {
  const record = await ctx.api.dataset(domain, name, 20);
  const section = document.getElementById("preview");
  const body = document.getElementById("preview-body");
  document.getElementById("preview-title").textContent = `Preview of ${domain}/${name}`;
  const columns = h("p", { class: "meta" }, record.columns.map((c) => `${c.label || c.name} (${c.dtype})`).join(", "));
  const data = { columns: record.preview.columns, rows: record.preview.rows, row_count: record.preview.total_rows,
                 column_types: record.columns.map((c) => c.dtype) };
  body.replaceChildren(columns, table(data, `${name}, first rows`));
  section.hidden = false;
}
