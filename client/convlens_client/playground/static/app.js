// ConvLens playground: every endpoint's form from the server's describe(), its calls through the local proxy
// (which holds the token), and the answers as pictures, numbers, progress and errors. No build step, no network.
"use strict";

const PICTURES = ["png", "jpeg"];
const HEADERS = {"Content-Type": "application/json", "X-ConvLens-Playground": "1"};
const state = {server: {}, endpoints: [], samples: [], entry: null, photo: null, extra: {}, labels: [], snippet: null,
               tab: "curl"};
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, children = []) {
  // A DOM element with attributes (on* as listeners) and children (text or nodes).
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value !== null && value !== undefined) node.setAttribute(key, value);
  }
  for (const child of [].concat(children)) node.append(child);
  return node;
}

async function api(path, options = {}) {
  // A call to the proxy; a non-2xx answer throws the contract's error object.
  const response = await fetch(path, {...options, headers: HEADERS});
  if (!response.ok) {
    let error;
    try { error = await response.json(); } catch (e) { error = {code: response.status, message: response.statusText}; }
    throw error;
  }
  return response;
}

// ---- photos -------------------------------------------------------------------------------------------------

function readFile(file) {
  // {name, b64, url} of a picked or dropped file.
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({name: file.name || "photo.png", b64: reader.result.split(",")[1],
                                   url: reader.result});
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function setPhoto(photo) {
  state.photo = photo;
  $("photo").src = photo.url;
  $("photo").hidden = false;
  $("drop").classList.add("has-photo");
  $("drop-hint").firstChild.textContent = `${photo.name} · drop another, or `;
}

async function loadSample(name) {
  const blob = await (await api(`/api/samples/${encodeURIComponent(name)}`)).blob();
  setPhoto(await readFile(new File([blob], name)));
}

function setUpPhotoBox() {
  $("file").addEventListener("change", async (e) => e.target.files[0] && setPhoto(await readFile(e.target.files[0])));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) setPhoto(await readFile(file));
  });
}

// ---- endpoints and their forms ------------------------------------------------------------------------------

function isImage(field) { return field.type === "image" || field.type === "images"; }

function photoField(fields) {
  // The image field the photo above fills: the first required one.
  return fields.find((f) => isImage(f) && f.required) || null;
}

function suggestions(entry, field) {
  // Values to offer for a free-text field, from the endpoint's describe() and the last classification.
  const d = entry.describe;
  if (field.type === "target") return state.labels;
  if (field.name === "layer" || field.type === "layers") return d.layers || [];
  if (field.name === "style" && !isImage(field)) {
    return [...new Set([...(d.single_styles || []), ...(d.styles || []).flatMap((s) => s.styles || [])])];
  }
  return [];
}

function numberControl(field) {
  // A number box, with a slider beside it where the range is one a slider can cover.
  const isInt = field.type === "int";
  const box = el("input", {type: "number", name: field.name, min: field.minimum, max: field.maximum,
                           step: isInt ? 1 : "any", value: field.default ?? "", placeholder: field.default ?? ""});
  const span = field.maximum - field.minimum;
  if (!(span > 0) || (isInt && span > 1000) || (!isInt && field.maximum > 100)) return [box];
  const slider = el("input", {type: "range", min: field.minimum, max: field.maximum, step: isInt ? 1 : span / 200,
                              value: field.default ?? field.minimum, "aria-label": field.name});
  slider.addEventListener("input", () => { box.value = isInt ? slider.value : Number(slider.value).toPrecision(3); });
  box.addEventListener("input", () => { slider.value = box.value; });
  return [slider, box];
}

function control(entry, field) {
  // The input(s) of one field, by its declared type.
  if (field.type === "choice") {
    return [el("select", {name: field.name}, field.choices.map((c) => el("option", {value: c, selected: c ===
      field.default}, c)))];
  }
  if (field.type === "flag") return [el("input", {type: "checkbox", name: field.name, checked: field.default === true})];
  if (field.type === "int" || field.type === "float") return numberControl(field);
  if (isImage(field)) {
    const file = el("input", {type: "file", name: field.name, accept: "image/*", multiple: field.type === "images",
                              onchange: (e) => pickExtra(field, e.target.files)});
    if (!state.samples.length) return [file];
    const every = field.type === "images" ? [el("option", {value: "*"}, "every sample")] : [];
    const sample = el("select", {"aria-label": `${field.name}: a sample`, onchange: (e) => pickSample(field, e.target)},
      [el("option", {value: ""}, "or a sample…"), ...every,
       ...state.samples.map((name) => el("option", {value: name}, name))]);
    return [file, sample];
  }
  const listed = suggestions(entry, field);
  const list = listed.length ? `list-${field.name}` : null;
  const input = el("input", {type: "text", name: field.name, placeholder: field.default ?? field.example ?? "",
                             list, value: field.example ?? (field.required ? listed[0] : "") ?? ""});
  return list ? [input, el("datalist", {id: list}, listed.map((v) => el("option", {value: v})))] : [input];
}

async function pickExtra(field, files) {
  state.extra[field.name] = await Promise.all([...files].map(readFile));
}

async function pickSample(field, select) {
  // Sample photos as this image field's value: one (a style image, a guide) or every one (a gallery, a layout).
  if (!select.value) { delete state.extra[field.name]; return; }
  const names = select.value === "*" ? state.samples : [select.value];
  state.extra[field.name] = await Promise.all(names.map(async (name) => {
    const blob = await (await api(`/api/samples/${encodeURIComponent(name)}`)).blob();
    return readFile(new File([blob], name));
  }));
}

function describeBounds(field) {
  const notes = [];
  if (field.minimum !== undefined) notes.push(`${field.minimum}…${field.maximum}`);
  if (field.default !== undefined && field.type !== "flag") notes.push(`default ${field.default}`);
  if (field.only) notes.push(`with ${Object.entries(field.only).map(([k, v]) => `${k}=${v.join("|")}`).join(", ")}`);
  return notes.length ? ` (${notes.join("; ")})` : "";
}

function renderForm(entry) {
  state.entry = entry;
  state.extra = {};
  document.querySelectorAll("#endpoints button").forEach((b) => b.classList.toggle("active", b.dataset.name ===
    entry.name));
  $("form-title").textContent = entry.name;
  const fields = entry.describe.fields;
  const photo = photoField(fields);
  const rows = [];
  for (const field of fields) {
    if (field.name === "progress") continue;
    const row = el("div", {class: "field", "data-name": field.name});
    const label = el("label", {}, [el("code", {}, field.name), field.required ? el("b", {}, " *") : ""]);
    row.append(label);
    if (field === photo) {
      row.append(el("p", {class: "muted small"}, field.type === "images" ? "the photo above, then these:" :
        "the photo above"));
      if (field.type === "images") row.append(...control(entry, field));
    } else {
      row.append(el("div", {class: "control"}, control(entry, field)));
    }
    row.append(el("p", {class: "help"}, field.help + describeBounds(field)), el("p", {class: "field-error"}));
    rows.push(row);
  }
  $("fields").replaceChildren(...rows);
  applyConditions();
  $("stream-box").hidden = !fields.some((f) => f.name === "progress");
  $("views-box").hidden = !viewChoices(entry).length;
  $("drop").classList.toggle("unused", !photo);
}

function valueOf(name) {
  const input = document.querySelector(`#fields [name="${name}"]`);
  if (!input) return undefined;
  return input.type === "checkbox" ? input.checked : input.value;
}

function applyConditions() {
  // A field used only with some values of another (e.g. a saliency method's own options) shows only then.
  for (const field of state.entry.describe.fields) {
    const row = document.querySelector(`#fields [data-name="${field.name}"]`);
    if (!row || !field.only) continue;
    row.hidden = !Object.entries(field.only).every(([other, values]) => values.includes(String(valueOf(other))));
  }
}

function viewChoices(entry) {
  // The views to show side by side (heatmap and overlay, ...) when an endpoint draws several of a photo.
  const view = entry.describe.fields.find((f) => f.name === "view" && f.choices);
  const photo = photoField(entry.describe.fields);
  return view && photo && view.choices.length <= 3 ? view.choices : [];
}

// ---- the request --------------------------------------------------------------------------------------------

function buildRequest() {
  // The exact request: required fields and every value that differs from its default; images by field name.
  const entry = state.entry;
  const fields = {};
  const images = {};
  const files = {};
  const photo = photoField(entry.describe.fields);
  if (photo) {
    if (!state.photo) throw {code: 400, type: "InvalidParameter", field: photo.name,
                             message: "is required: pick a photo (file, drop, or a sample) first"};
    images[photo.name] = state.photo.b64;
    files[photo.name] = state.photo.name;
  }
  for (const field of entry.describe.fields) {
    const row = document.querySelector(`#fields [data-name="${field.name}"]`);
    if (!row || row.hidden || field.name === "progress") continue;
    if (isImage(field)) {
      const picked = state.extra[field.name] || [];
      const first = field === photo ? 2 : 1;
      picked.forEach((file, i) => {
        const name = i + first === 1 ? field.name : `${field.name}_${i + first}`;
        images[name] = file.b64;
        files[name] = file.name;
      });
      continue;
    }
    const value = valueOf(field.name);
    if (field.type === "flag") {
      if (value !== (field.default === true)) fields[field.name] = value ? "true" : "false";
    } else if (value !== "" && value !== undefined) {
      const same = (field.type === "int" || field.type === "float") ? Number(value) === Number(field.default)
        : value === String(field.default);
      if (!same || field.required) fields[field.name] = value;
    }
  }
  const stream = !$("stream-box").hidden && $("stream").checked;
  return {endpoint: entry.name, fields, images, files, stream};
}

function formatOf(request) {
  const field = state.entry.describe.fields.find((f) => f.name === "format");
  return request.fields.format || (field && field.default) || "png";
}

async function send(request) {
  // One call through the proxy: {type, blob} of the answer (after the progress events when streamed).
  const body = JSON.stringify({fields: request.fields, images: request.images, stream: request.stream});
  const response = await api(`/api/predict/${request.endpoint}`, {method: "POST", body});
  if (!request.stream) return {type: response.headers.get("Content-Type"), blob: await response.blob()};
  return readStream(response);
}

async function readStream(response) {
  // NDJSON lines: progress events (bar, preview, loss curve), then the result or the error.
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const losses = [];
  let buffer = "";
  $("progress").hidden = false;
  for (;;) {
    const {value, done} = await reader.read();
    if (value) buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = JSON.parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      if (line.progress) showProgress(line.progress, losses);
      if (line.error) throw line.error;
      if (line.result) {
        const bytes = Uint8Array.from(atob(line.result.data), (c) => c.charCodeAt(0));
        return {type: line.result.content_type, blob: new Blob([bytes], {type: line.result.content_type})};
      }
    }
    if (done) throw {code: 502, type: "MalformedResponse", message: "the stream ended before its result"};
  }
}

function showProgress(event, losses) {
  const fraction = event.total ? Math.min(1, event.step / event.total) : 0;
  $("bar-fill").style.width = `${(100 * fraction).toFixed(1)}%`;
  const loss = event.loss === null || event.loss === undefined ? "" : ` · loss ${Number(event.loss).toPrecision(4)}`;
  $("progress-text").textContent = `step ${event.step}/${event.total || "?"}${loss}` +
    `${event.stage ? " · " + event.stage : ""} · ${event.elapsed_s.toFixed(1)} s`;
  if (event.preview) {
    $("preview").src = `data:image/png;base64,${event.preview}`;
    $("preview").hidden = false;
  }
  if (event.loss !== null && event.loss !== undefined && Number.isFinite(event.loss)) {
    losses.push(event.loss);
    drawLoss(losses);
  }
}

function drawLoss(losses) {
  const canvas = $("loss");
  canvas.hidden = losses.length < 2;
  const ctx = canvas.getContext("2d");
  const lo = Math.min(...losses);
  const hi = Math.max(...losses);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#7c5cff";
  ctx.lineWidth = 2;
  ctx.beginPath();
  losses.forEach((v, i) => {
    const x = 4 + (i / Math.max(1, losses.length - 1)) * (canvas.width - 8);
    const y = 4 + (hi === lo ? 0.5 : (hi - v) / (hi - lo)) * (canvas.height - 8);
    if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
  });
  ctx.stroke();
}

// ---- results ------------------------------------------------------------------------------------------------

function card(title, content, cls = "") {
  return el("figure", {class: `card ${cls}`}, [content, el("figcaption", {}, title)]);
}

function picture(url, alt) { return el("img", {src: url, alt, class: "result-image"}); }

function compare(before, after) {
  // The photo and the result on top of each other, a slider wiping between them.
  const top = el("img", {src: after, alt: "after", class: "after result-image"});
  const slider = el("input", {type: "range", min: 0, max: 100, value: 50, "aria-label": "before / after"});
  const box = el("div", {class: "compare"}, [el("img", {src: before, alt: "before", class: "before"}), top,
    el("span", {class: "tag left"}, "before"), el("span", {class: "tag right"}, "after"), slider]);
  const wipe = () => { top.style.clipPath = `inset(0 0 0 ${slider.value}%)`; };
  slider.addEventListener("input", wipe);
  wipe();
  return box;
}

function fill(fraction) {
  // A bar's filled part (its width set through the DOM: the page's policy allows no inline style attributes).
  const span = el("span", {class: "fill"});
  span.style.width = `${(100 * fraction).toFixed(1)}%`;
  return span;
}

function bars(predictions, title) {
  // Top-k classes as labelled bars.
  const rows = predictions.map((p) => el("div", {class: "bar-row"}, [
    el("span", {class: "label", title: `class ${p.index}`}, p.label),
    el("span", {class: "track"}, fill(p.probability)),
    el("span", {class: "value"}, `${(100 * p.probability).toFixed(1)}%`)]));
  return card(title, el("div", {class: "bars"}, rows), "wide");
}

function renderJSON(data) {
  // Numbers as people read them: class bars, metrics, pictures inside the JSON, then the whole JSON folded.
  const out = [];
  const walk = (value, path) => {
    if (Array.isArray(value) && value.length && value[0] && value[0].label !== undefined &&
        value[0].probability !== undefined) {
      out.push(bars(value, path || "classes"));
      value.slice(0, 100).forEach((v) => { if (!state.labels.includes(v.label)) state.labels.push(v.label); });
    } else if (Array.isArray(value)) {
      value.slice(0, 16).forEach((v, i) => walk(v, `${path}[${i}]`));
    } else if (value && typeof value === "object") {
      if (typeof value.png === "string") out.push(card(value.name || path, picture(`data:image/png;base64,${value.png}`,
        path)));
      const numbers = Object.entries(value).filter(([, v]) => typeof v === "number");
      if (path === "metrics" || (numbers.length && path !== "")) {
        out.push(card(path, el("table", {class: "numbers"}, numbers.map(([k, v]) =>
          el("tr", {}, [el("th", {}, k), el("td", {}, Number.isInteger(v) ? String(v) : v.toPrecision(4))])))));
      }
      for (const [k, v] of Object.entries(value)) if (typeof v === "object") walk(v, path ? `${path}.${k}` : k);
    }
  };
  walk(data, "");
  const text = JSON.stringify(data, (k, v) => (typeof v === "string" && v.length > 200 ? `${v.slice(0, 60)}…` : v), 2);
  out.push(el("details", {class: "card wide raw"}, [el("summary", {}, "JSON"), el("pre", {}, text)]));
  return out;
}

async function showAnswer(answer, title, request) {
  const {type, blob} = answer;
  if (type.startsWith("image/")) {
    const url = URL.createObjectURL(blob);
    const photo = photoField(state.entry.describe.fields);
    if (state.photo && photo && !viewChoices(state.entry).length && request.images[photo.name] &&
        await sameShape(url, state.photo.url)) {
      return [card(`${title} · before / after`, compare(state.photo.url, url), "wide")];
    }
    return [card(title, picture(url, title))];
  }
  if (type.includes("json")) return renderJSON(JSON.parse(await blob.text()));
  const ext = type.includes("npy") ? "npy" : "pb";
  return [card(title, el("a", {href: URL.createObjectURL(blob), download: `${request.endpoint}.${ext}`},
    `download ${request.endpoint}.${ext} (${blob.size} bytes)`))];
}

function sameShape(a, b) {
  // Whether two pictures have the same aspect ratio (a restyled photo, not a map of another shape).
  const size = (url) => new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(img.naturalWidth / img.naturalHeight);
    img.onerror = () => resolve(0);
    img.src = url;
  });
  return Promise.all([size(a), size(b)]).then(([x, y]) => Math.abs(x - y) < 0.02 * y);
}

function showError(error) {
  const field = error.field ? ` · field ${error.field}` : "";
  $("error").replaceChildren(el("strong", {}, `${error.type || "Error"} (${error.code || "?"})${field}`),
                             el("p", {}, error.message || String(error)));
  $("error").hidden = false;
  const row = error.field && document.querySelector(`#fields [data-name="${error.field}"]`);
  if (row) {
    row.classList.add("invalid");
    row.querySelector(".field-error").textContent = error.message;
    row.scrollIntoView({block: "nearest"});
  }
}

async function run(event) {
  event.preventDefault();
  $("error").hidden = true;
  document.querySelectorAll(".field.invalid").forEach((r) => {
    r.classList.remove("invalid");
    r.querySelector(".field-error").textContent = "";
  });
  $("progress").hidden = true;
  $("preview").hidden = true;
  $("loss").hidden = true;
  $("results").replaceChildren();
  $("run").disabled = true;
  $("output").classList.add("busy");
  document.body.dataset.state = "running";
  try {
    const request = buildRequest();
    showSnippet(request);
    const cards = [];
    if (request.images && Object.keys(request.images).length && state.photo) {
      cards.push(card(`photo · ${state.photo.name}`, picture(state.photo.url, "photo")));
    }
    const isPicture = PICTURES.includes(formatOf(request));
    const views = isPicture && !$("views-box").hidden && $("views").checked ? viewChoices(state.entry) : [];
    const chosen = request.fields.view || (state.entry.describe.fields.find((f) => f.name === "view") || {}).default;
    const order = views.length ? [chosen, ...views.filter((v) => v !== chosen)] : [null];
    $("results").replaceChildren(...cards);
    for (const view of order) {
      const one = view && view !== chosen ? {...request, fields: {...request.fields, view}} : request;
      const title = view ? `${request.endpoint} · ${view}` : request.endpoint;
      $("results").append(...await showAnswer(await send(one), title, one));
    }
    document.body.dataset.state = "done";
  } catch (error) {
    showError(error);
    document.body.dataset.state = "error";
  } finally {
    $("run").disabled = false;
    $("output").classList.remove("busy");
  }
}

// ---- snippets -----------------------------------------------------------------------------------------------

function shellQuote(text) { return /^[A-Za-z0-9_.,:\/=@+-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`; }

function pyValue(field, value) {
  if (field && (field.type === "int" || field.type === "float") && value !== "" && Number.isFinite(Number(value))) {
    return String(value);
  }
  return JSON.stringify(value);
}

function extension(request) {
  const format = formatOf(request);
  return {png: "png", jpeg: "jpg", json: "json", npy: "npy", proto: "pb"}[format] || "out";
}

function snippets(request) {
  // The same request as curl, Python (the client SDK) and the CLI.
  const s = state.server;
  const out = `${request.endpoint}.${extension(request)}`;
  const toFile = extension(request) !== "json";
  const byName = Object.fromEntries(state.entry.describe.fields.map((f) => [f.name, f]));
  const token = "TOKEN=$(python3 -c 'import json; print(json.load(open(\".run/key_file.json\"))[\"inference\"][\"key\"])')";
  const parts = [
    ...Object.entries(request.files).map(([k, v]) => `-F ${shellQuote(`${k}=@${v}`)}`),
    ...Object.entries(request.fields).map(([k, v]) => `-F ${shellQuote(`${k}=${v}`)}`),
    ...(request.stream ? ["-F progress=true"] : [])];
  const curl = `${token}\ncurl -s${request.stream ? "N" : ""} -H "Authorization: Bearer $TOKEN" \\\n  ` +
    `${parts.join(" ")} \\\n  ${s.url}/predictions/${request.endpoint}${toFile ? ` -o ${out}` : ""}`;
  const images = Object.entries(request.files).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  const kwargs = Object.entries(request.fields).map(([k, v]) => `, ${k}=${pyValue(byName[k], v)}`).join("");
  const args = `${JSON.stringify(request.endpoint)}, {${images.join(", ")}}${kwargs}`;
  const where = `${JSON.stringify(s.host)}, http_port=${s.http_port}`;
  const save = toFile ? `open(${JSON.stringify(out)}, "wb").write(data)` : "print(data.decode())";
  const python = request.stream
    ? `from convlens_client import Client, Progress\n\nwith Client(${where}) as client:\n` +
      `    for item in client.raw_stream(${args}):\n        if isinstance(item, Progress):\n` +
      `            print(item.step, item.total, item.loss)\n        else:\n            data = item\n${save}`
    : `from convlens_client import Client\n\nwith Client(${where}) as client:\n` +
      `    data = client.raw(${args})\n${save}`;
  const global = [s.host !== "127.0.0.1" ? `--host ${shellQuote(s.host)}` : "",
                  s.http_port !== 8080 ? `--http-port ${s.http_port}` : ""].filter(Boolean).join(" ");
  const cli = [".venv/bin/convlens", global, "raw", request.endpoint,
    ...Object.entries(request.files).map(([k, v]) => `--image ${shellQuote(`${k}=${v}`)}`),
    ...Object.entries(request.fields).map(([k, v]) => `--set ${shellQuote(`${k}=${v}`)}`),
    request.stream ? "--progress" : "", toFile ? `-o ${out}` : ""].filter(Boolean).join(" ");
  return {curl, Python: python, CLI: cli};
}

function showSnippet(request) {
  state.snippet = snippets(request);
  $("snippet-tabs").replaceChildren(...Object.keys(state.snippet).map((name) => el("button", {type: "button",
    class: name === state.tab ? "active" : "", onclick: () => { state.tab = name; showSnippet(request); }}, name)));
  $("snippet").textContent = state.snippet[state.tab];
  $("snippet-box").hidden = false;
}

async function copySnippet() {
  const text = $("snippet").textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {
    const range = document.createRange();
    range.selectNodeContents($("snippet"));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    document.execCommand("copy");
  }
  $("copy").textContent = "Copied";
  setTimeout(() => { $("copy").textContent = "Copy"; }, 1200);
}

// ---- start --------------------------------------------------------------------------------------------------

async function start() {
  setUpPhotoBox();
  $("form").addEventListener("submit", run);
  $("fields").addEventListener("change", applyConditions);
  $("copy").addEventListener("click", copySnippet);
  try {
    const [listing, samples] = await Promise.all([(await api("/api/endpoints")).json(),
                                                  (await api("/api/samples")).json()]);
    state.server = listing.server;
    state.endpoints = listing.endpoints;
    state.samples = samples.samples;
    $("server").textContent = `${listing.server.url} · ${listing.endpoints.length} endpoints`;
    $("endpoints").replaceChildren(...listing.endpoints.map((entry) => el("button", {
      type: "button", "data-name": entry.name, disabled: !entry.describe, title: entry.error ?
        entry.error.message : `${entry.describe.backbone} on ${entry.describe.device}`,
      onclick: () => renderForm(entry)}, entry.name)));
    $("samples").replaceChildren(...samples.samples.map((name) => el("button", {type: "button", class: "sample",
      title: name, "data-name": name, onclick: () => loadSample(name)},
      el("img", {src: `/api/samples/${encodeURIComponent(name)}`, alt: name}))));
    const first = listing.endpoints.find((e) => e.describe && e.name === "classify") ||
      listing.endpoints.find((e) => e.describe);
    if (first) renderForm(first);
    if (samples.samples.length) await loadSample(samples.samples[0]);
    document.body.dataset.ready = "true";
  } catch (error) {
    showError(error);
  }
}

start();
