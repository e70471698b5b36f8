// The annotate page: case list, slice viewer (axial + coronal + sagittal), painting, saving and
// the prediction overlay. Every request goes to the server that served the page, relative to
// its URL (which carries the token).
import { composeRgba, extractPlane, hexRgb, planeCount, planeGeometry, windowLut } from "./view.js";
import { floodFill, History, stampDisk, strokeLine } from "./paint.js";

/** @param {string} id @returns {any} */
const $ = (id) => document.getElementById(id);

/**
 * Timings the tests read (ms): page start to the first slice drawn; per new slice, input event
 * to drawn (`slice`) and the drawing alone (`draw`).
 */
const timings = {
  firstSlice: -1,
  slice: /** @type {number[]} */ ([]),
  draw: /** @type {number[]} */ ([]),
};
/** @type {any} */ (globalThis).duetTimings = timings;

const state = {
  /** @type {any} */ session: null,
  /** @type {any} */ meta: null,
  /** @type {Uint16Array | null} */ volume: null,
  /** @type {Uint8Array | null} */ prediction: null,
  caseId: "",
  z: 0,
  x: 0,
  y: 0,
  zoom: 1,
  /** @type {[number, number]} */ window: [0, 1],
  /** @type {Uint8Array} */ lut: new Uint8Array(65536),
  tool: "brush",
  cls: 1,
  radius: 2,
  /** @type {Map<string, Map<number, Uint8Array>>} painted slices per case */
  paint: new Map(),
  /** @type {Map<string, History>} undo per case and slice */
  history: new Map(),
  /** @type {ReadonlyArray<[number, number, number] | null>} */ colours: [],
  showPred: false,
  predAlpha: 1,
  /** @type {{ x: number, y: number } | null} */ cursor: null,
};

/** @param {string} text @param {boolean} [error] */
function status(text, error = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", error);
}

/** Fetch relative to the page; errors carry the server's one-line message. */
async function api(path, init) {
  const res = await fetch(path, init);
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      message = (await res.json()).error ?? message;
    } catch { /* not JSON */ }
    throw new Error(message);
  }
  return res;
}

// ---- drawing ---------------------------------------------------------------------------

const scratch = document.createElement("canvas");
const scratchCtx = /** @type {CanvasRenderingContext2D} */ (scratch.getContext("2d"));
const buffers = new Map();

/** Per plane: grey and label buffers reused between frames (no garbage while scrolling). */
function planeBuffers(plane, w, h) {
  const key = `${plane}:${w}x${h}`;
  let b = buffers.get(key);
  if (!b) {
    b = {
      grey: new Uint16Array(w * h),
      paint: new Uint8Array(w * h),
      pred: new Uint8Array(w * h),
      image: new ImageData(w, h),
    };
    buffers.set(key, b);
  }
  return b;
}

/** The painted labels of the current case as a sparse volume lookup for other planes. */
const casePaint = () => state.paint.get(state.caseId) ?? new Map();

/** @param {"axial"|"coronal"|"sagittal"} plane */
function drawPlane(plane, canvas, k, scale) {
  const { meta, volume } = state;
  const g = planeGeometry(meta.shape, meta.spacing, plane);
  const b = planeBuffers(plane, g.w, g.h);
  extractPlane(volume, meta.shape, plane, k, b.grey);
  const layers = [];
  const painted = casePaint();
  if (painted.size > 0) {
    if (plane === "axial") {
      const s = painted.get(k);
      if (s) b.paint.set(s);
      else b.paint.fill(0);
    } else {
      // Painted slices seen edge-on: rows of the other planes at each painted z.
      b.paint.fill(0);
      const [nx, , nz] = meta.shape;
      for (const [z, s] of painted) {
        const v = nz - 1 - z;
        for (let u = 0; u < g.w; u++) {
          b.paint[u + g.w * v] = plane === "coronal" ? s[u + nx * k] : s[k + nx * u];
        }
      }
    }
    layers.push({ labels: b.paint, colours: state.colours, alpha: 0.5, outline: false });
  }
  if (state.showPred && state.prediction) {
    extractPlane(state.prediction, meta.shape, plane, k, b.pred);
    layers.push({ labels: b.pred, colours: state.colours, alpha: state.predAlpha, outline: true });
  }
  composeRgba(b.image.data, b.grey, state.lut, g.w, g.h, layers);
  scratch.width = g.w;
  scratch.height = g.h;
  scratchCtx.putImageData(b.image, 0, 0);
  const W = Math.max(1, Math.round(g.w * g.du * scale)),
    H = Math.max(1, Math.round(g.h * g.dv * scale));
  if (canvas.width !== W || canvas.height !== H) {
    canvas.width = W;
    canvas.height = H;
  }
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, 0, 0, W, H);
  return { ctx, W, H, g };
}

/** Pixels per mm of the axial view at zoom 1: the slice fits the viewing area. */
function fitScale() {
  const { meta } = state;
  const wrap = $("axial-wrap");
  const g = planeGeometry(meta.shape, meta.spacing, "axial");
  return Math.min((wrap.clientWidth - 8) / (g.w * g.du), (wrap.clientHeight - 8) / (g.h * g.dv));
}

function drawAxial() {
  const { ctx, W, H, g } = drawPlane("axial", $("axial"), state.z, fitScale() * state.zoom);
  if (state.cursor && state.tool !== "fill") {
    // The brush's footprint, so its size is visible before painting.
    const px = W / g.w, py = H / g.h, r = state.radius + 0.5;
    ctx.strokeStyle = "rgba(255,255,255,0.8)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.ellipse(
      (state.cursor.x + 0.5) * px,
      (state.cursor.y + 0.5) * py,
      r * px,
      r * py,
      0,
      0,
      2 * Math.PI,
    );
    ctx.stroke();
  }
}

function drawOrtho(plane) {
  const canvas = $(plane);
  const { meta } = state;
  const g = planeGeometry(meta.shape, meta.spacing, plane);
  const k = plane === "coronal" ? state.y : state.x;
  const { ctx, W, H } = drawPlane(plane, canvas, k, 260 / (g.w * g.du));
  // The axial slice's position (and the other plane's) as lines.
  const yLine = (meta.shape[2] - 1 - state.z + 0.5) * (H / g.h);
  const across = plane === "coronal" ? state.x : state.y;
  const xLine = (across + 0.5) * (W / g.w);
  ctx.strokeStyle = "rgba(255, 214, 0, 0.9)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(0, yLine);
  ctx.lineTo(W, yLine);
  ctx.moveTo(xLine, 0);
  ctx.lineTo(xLine, H);
  ctx.stroke();
  $(`${plane}-pos`).textContent = plane === "coronal" ? `y ${state.y}` : `x ${state.x}`;
}

let pending = { axial: false, ortho: false, inputAt: -1 };

/**
 * Draws on the next frame (many wheel events per frame cost one draw). `inputAt` (an event's
 * timeStamp) is when the user asked for a new slice: the delay to it being drawn is recorded.
 */
function requestDraw(what = { axial: true, ortho: true }, inputAt = -1) {
  const first = !pending.axial && !pending.ortho;
  pending.axial ||= !!what.axial;
  pending.ortho ||= !!what.ortho;
  if (inputAt >= 0 && pending.inputAt < 0) pending.inputAt = inputAt;
  if (first) requestAnimationFrame(drawNow);
}

function drawNow() {
  const p = pending;
  pending = { axial: false, ortho: false, inputAt: -1 };
  if (!state.volume) return;
  const started = performance.now();
  if (p.axial) drawAxial();
  if (p.ortho) {
    drawOrtho("coronal");
    drawOrtho("sagittal");
  }
  const now = performance.now();
  if (p.axial && timings.firstSlice < 0) timings.firstSlice = now;
  if (p.inputAt >= 0) {
    timings.slice.push(now - p.inputAt);
    timings.draw.push(now - started);
  }
}

// ---- case list and loading -------------------------------------------------------------

function renderCaseList() {
  const ul = $("cases");
  ul.replaceChildren();
  const ex = state.session.exemplar;
  for (const c of state.session.cases) {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    li.classList.toggle("on", c.id === state.caseId);
    li.title = c.id;
    // A long ID loses its middle, never its end (patient020_frame01 and _frame02 stay apart).
    const name = document.createElement("span");
    name.className = "name";
    const cut = Math.max(0, c.id.length - 11);
    for (const [cls, text] of [["head", c.id.slice(0, cut)], ["tail", c.id.slice(cut)]]) {
      const part = document.createElement("span");
      part.className = cls;
      part.textContent = text;
      name.append(part);
    }
    li.append(name);
    const badge = (text, cls = "") => {
      const b = document.createElement("span");
      b.className = `badge ${cls}`;
      b.textContent = text;
      li.append(b);
    };
    if (ex && ex.case === c.id) badge(`exemplar z${ex.slice}`, "exemplar");
    if ((state.paint.get(c.id)?.size ?? 0) > 0) badge("painted", "painted");
    if (c.hasLabel) badge("label");
    li.addEventListener("click", () => openCase(c.id));
    ul.append(li);
  }
  $("case-count").textContent = `(${state.session.cases.length})`;
}

function setWindow(lo, hi) {
  state.window = [lo, hi];
  state.lut = windowLut(state.meta.range, state.window);
  $("level").value = String((lo + hi) / 2);
  $("width").value = String(hi - lo);
}

function setSlice(z, inputAt = -1) {
  const nz = state.meta.shape[2];
  const next = Math.max(0, Math.min(nz - 1, z));
  if (next === state.z && inputAt >= 0) return;
  state.z = next;
  $("slice").value = String(next);
  $("slice-label").textContent = `${next} / ${nz - 1}`;
  requestDraw({ axial: true, ortho: true }, inputAt);
}

async function openCase(id) {
  status(`Loading ${id}…`);
  try {
    const [metaRes, volRes] = await Promise.all([
      api(`api/cases/${encodeURIComponent(id)}`),
      api(`api/cases/${encodeURIComponent(id)}/volume`),
    ]);
    const meta = await metaRes.json();
    const volume = new Uint16Array(await volRes.arrayBuffer());
    state.caseId = id;
    state.meta = meta;
    state.volume = volume;
    state.prediction = null;
    const [nx, ny, nz] = meta.shape;
    state.x = nx >> 1;
    state.y = ny >> 1;
    $("slice").max = String(nz - 1);
    $("suggested").textContent = String(meta.suggested);
    const [lo, hi] = meta.range;
    for (const el of [$("level"), $("width")]) {
      el.min = el.id === "width" ? String((hi - lo) / 1000) : String(lo);
      el.max = el.id === "width" ? String((hi - lo) * 2) : String(hi);
    }
    setWindow(meta.window[0], meta.window[1]);
    $("case-title").textContent = `${id}  ${nx}×${ny}×${nz}`;
    $("case-title").title = $("case-title").textContent;
    let z = meta.suggested;
    const ex = state.session.exemplar;
    if (ex && ex.case === id && !state.paint.get(id)?.has(ex.slice)) {
      // Re-opening the saved exemplar: its slice comes back to edit.
      const saved = new Uint8Array(
        await (await api(`api/cases/${encodeURIComponent(id)}/exemplar`)).arrayBuffer(),
      );
      slicePaint(ex.slice).set(saved);
      z = ex.slice;
    } else if (ex && ex.case === id) z = ex.slice;
    renderCaseList();
    state.z = -1;
    setSlice(z);
    status(
      `${id}: ${nx}×${ny}×${nz}, spacing ${
        meta.spacing.map((s) => +s.toFixed(3)).join("×")
      } mm; suggested slice ${meta.suggested}`,
    );
    if (state.showPred) loadPrediction();
  } catch (e) {
    status(`${id}: ${e.message}`, true);
  }
}

// ---- painting --------------------------------------------------------------------------

/** The label buffer of slice z of the current case (created empty). */
function slicePaint(z) {
  let byZ = state.paint.get(state.caseId);
  if (!byZ) state.paint.set(state.caseId, byZ = new Map());
  let s = byZ.get(z);
  if (!s) {
    s = new Uint8Array(state.meta.shape[0] * state.meta.shape[1]);
    byZ.set(z, s);
  }
  return s;
}

function sliceHistory(z) {
  const key = `${state.caseId}:${z}`;
  let h = state.history.get(key);
  if (!h) state.history.set(key, h = new History());
  return h;
}

/** The voxel under a pointer event on the axial canvas. */
function voxelAt(e) {
  const canvas = $("axial");
  const r = canvas.getBoundingClientRect();
  const [nx, ny] = state.meta.shape;
  return {
    x: Math.floor(((e.clientX - r.left) / r.width) * nx),
    y: Math.floor(((e.clientY - r.top) / r.height) * ny),
  };
}

let stroke = null;

function initPainting() {
  const canvas = $("axial");
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  canvas.addEventListener("pointerdown", (e) => {
    if (!state.volume) return;
    canvas.setPointerCapture(e.pointerId);
    if (e.button === 2) {
      stroke = { kind: "window", x: e.clientX, y: e.clientY, window: [...state.window] };
      return;
    }
    if (e.button !== 0) return;
    const { x, y } = voxelAt(e);
    state.cursor = { x, y };
    const [nx, ny] = state.meta.shape;
    const buf = slicePaint(state.z);
    sliceHistory(state.z).push(buf);
    const value = state.tool === "eraser" ? 0 : state.cls;
    if (state.tool === "fill") {
      floodFill(buf, nx, ny, x, y, value);
      stroke = null;
    } else {
      stampDisk(buf, nx, ny, x, y, state.radius, value);
      stroke = { kind: "paint", x, y, value };
    }
    renderCaseList();
    requestDraw();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!state.volume) return;
    const v = voxelAt(e);
    state.cursor = v;
    if (stroke?.kind === "paint") {
      const [nx, ny] = state.meta.shape;
      strokeLine(
        slicePaint(state.z),
        nx,
        ny,
        stroke.x,
        stroke.y,
        v.x,
        v.y,
        state.radius,
        stroke.value,
      );
      stroke.x = v.x;
      stroke.y = v.y;
      requestDraw();
    } else if (stroke?.kind === "window") {
      // Right-drag: horizontal = width, vertical = level (as in radiology viewers).
      const [lo, hi] = stroke.window;
      const span = state.meta.range[1] - state.meta.range[0];
      const width = Math.max(span / 1000, hi - lo + ((e.clientX - stroke.x) / 300) * span);
      const level = (lo + hi) / 2 - ((e.clientY - stroke.y) / 300) * span;
      setWindow(level - width / 2, level + width / 2);
      requestDraw();
    } else {
      state.x = Math.max(0, Math.min(state.meta.shape[0] - 1, v.x));
      state.y = Math.max(0, Math.min(state.meta.shape[1] - 1, v.y));
      requestDraw();
    }
  });
  const end = () => (stroke = null);
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("pointerleave", () => {
    state.cursor = null;
    requestDraw({ axial: true });
  });
  canvas.addEventListener("wheel", (e) => {
    if (!state.volume) return;
    e.preventDefault();
    if (e.ctrlKey) setZoom(state.zoom * (e.deltaY < 0 ? 1.25 : 0.8));
    else setSlice(state.z + (e.deltaY < 0 ? 1 : -1), e.timeStamp);
  }, { passive: false });
}

function undo() {
  if (!state.volume) return;
  const buf = state.paint.get(state.caseId)?.get(state.z);
  if (buf && sliceHistory(state.z).undo(buf)) {
    if (!buf.some((v) => v !== 0)) state.paint.get(state.caseId).delete(state.z);
    renderCaseList();
    requestDraw();
  }
}

// ---- controls --------------------------------------------------------------------------

function setZoom(z) {
  state.zoom = Math.max(0.25, Math.min(16, z));
  $("zoom-label").textContent = `${Math.round(state.zoom * 100)}%`;
  requestDraw({ axial: true });
}

function setTool(tool) {
  state.tool = tool;
  for (const b of document.querySelectorAll("[data-tool]")) {
    b.classList.toggle("on", b.dataset.tool === tool);
  }
  requestDraw({ axial: true });
}

function setClass(k) {
  if (k < 1 || k >= state.session.classes.length) return;
  state.cls = k;
  if (state.tool === "eraser") setTool("brush");
  for (const b of document.querySelectorAll("[data-class]")) {
    b.classList.toggle("on", Number(b.dataset.class) === k);
  }
}

function setRadius(r) {
  state.radius = Math.max(0, Math.min(25, r));
  $("radius").value = String(state.radius);
  $("radius-label").textContent = String(state.radius);
  requestDraw({ axial: true });
}

function renderClasses() {
  const div = $("classes");
  div.replaceChildren();
  state.session.classes.forEach((name, k) => {
    if (k === 0) return;
    const b = document.createElement("button");
    b.type = "button";
    b.dataset.class = String(k);
    const sw = document.createElement("i");
    sw.style.background = state.session.colours[k];
    b.append(sw, `${k} ${name}`);
    b.addEventListener("click", () => setClass(k));
    div.append(b);
  });
  setClass(1);
}

async function save() {
  if (!state.volume) return;
  const buf = state.paint.get(state.caseId)?.get(state.z) ??
    new Uint8Array(state.meta.shape[0] * state.meta.shape[1]);
  status(`Saving ${state.caseId} slice ${state.z}…`);
  try {
    const res = await api(
      `api/cases/${encodeURIComponent(state.caseId)}/exemplar?slice=${state.z}`,
      {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: buf,
      },
    );
    const saved = await res.json();
    state.session.exemplar = saved.exemplar;
    const others = [...(state.paint.get(state.caseId)?.keys() ?? [])].filter((z) => z !== state.z);
    const p = $("saved");
    p.replaceChildren();
    const code = document.createElement("code");
    code.textContent = saved.command;
    p.append(
      `Saved ${saved.exemplar.case}, slice ${saved.exemplar.slice}: ${saved.label}. Train with `,
      code,
    );
    if (others.length > 0) {
      p.append(
        ` (slices ${others.join(", ")} are painted but not saved: one slice is the exemplar)`,
      );
    }
    renderCaseList();
    status(`Saved the exemplar: ${saved.exemplar.case}, slice ${saved.exemplar.slice}`);
  } catch (e) {
    status(`Not saved: ${e.message}`, true);
  }
}

async function loadPrediction() {
  const id = state.caseId;
  $("pred-info").textContent = "Segmenting…";
  try {
    const res = await api(`api/cases/${encodeURIComponent(id)}/prediction`);
    const data = new Uint8Array(await res.arrayBuffer());
    if (state.caseId !== id) return;
    state.prediction = data;
    $("pred-info").textContent = `run ${res.headers.get("x-duet-run")}: ${
      res.headers.get("x-duet-model")
    }`;
    requestDraw();
  } catch (e) {
    state.prediction = null;
    $("pred-info").textContent = e.message;
    requestDraw();
  }
}

function initControls() {
  $("slice").addEventListener("input", (e) => setSlice(Number(e.target.value), e.timeStamp));
  $("go-suggested").addEventListener("click", () => state.meta && setSlice(state.meta.suggested));
  $("zoom-in").addEventListener("click", () => setZoom(state.zoom * 1.25));
  $("zoom-out").addEventListener("click", () => setZoom(state.zoom * 0.8));
  $("zoom-fit").addEventListener("click", () => setZoom(1));
  for (const b of document.querySelectorAll("[data-tool]")) {
    b.addEventListener("click", () => setTool(b.dataset.tool));
  }
  $("radius").addEventListener("input", (e) => setRadius(Number(e.target.value)));
  $("undo").addEventListener("click", undo);
  const onWindow = () => {
    const level = Number($("level").value), width = Number($("width").value);
    setWindow(level - width / 2, level + width / 2);
    requestDraw();
  };
  $("level").addEventListener("input", onWindow);
  $("width").addEventListener("input", onWindow);
  $("auto-window").addEventListener("click", () => {
    if (!state.meta) return;
    setWindow(state.meta.window[0], state.meta.window[1]);
    requestDraw();
  });
  $("save").addEventListener("click", save);
  $("show-pred").addEventListener("change", (e) => {
    state.showPred = e.target.checked;
    if (state.showPred && !state.prediction && state.volume) loadPrediction();
    requestDraw();
  });
  $("pred-alpha").addEventListener("input", (e) => {
    state.predAlpha = Number(e.target.value);
    requestDraw();
  });
  $("refresh-pred").addEventListener("click", () => {
    state.prediction = null;
    if (state.showPred) loadPrediction();
  });
  for (const plane of ["coronal", "sagittal"]) {
    $(plane).addEventListener("pointerdown", (e) => {
      if (!state.volume) return;
      const canvas = $(plane);
      const r = canvas.getBoundingClientRect();
      const g = planeGeometry(state.meta.shape, state.meta.spacing, plane);
      const u = Math.floor(((e.clientX - r.left) / r.width) * g.w);
      const v = Math.floor(((e.clientY - r.top) / r.height) * g.h);
      if (plane === "coronal") state.x = u;
      else state.y = u;
      setSlice(planeCount(state.meta.shape, "axial") - 1 - v, e.timeStamp);
      requestDraw();
    });
  }
  addEventListener("keydown", (e) => {
    if (!state.volume || e.target instanceof HTMLInputElement && e.target.type !== "range") return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
      e.preventDefault();
      undo();
    } else if (e.key === "ArrowUp" || e.key === "PageUp") {
      e.preventDefault();
      setSlice(state.z + 1, e.timeStamp);
    } else if (e.key === "ArrowDown" || e.key === "PageDown") {
      e.preventDefault();
      setSlice(state.z - 1, e.timeStamp);
    } else if (/^[1-9]$/.test(e.key)) setClass(Number(e.key));
    else if (e.key === "b") setTool("brush");
    else if (e.key === "e") setTool("eraser");
    else if (e.key === "f") setTool("fill");
    else if (e.key === "[") setRadius(state.radius - 1);
    else if (e.key === "]") setRadius(state.radius + 1);
    else if (e.key === "+" || e.key === "=") setZoom(state.zoom * 1.25);
    else if (e.key === "-") setZoom(state.zoom * 0.8);
  });
  addEventListener("resize", () => requestDraw());
}

async function main() {
  initControls();
  initPainting();
  try {
    state.session = await (await api("api/session")).json();
  } catch (e) {
    status(`Cannot load the session: ${e.message}`, true);
    return;
  }
  state.colours = state.session.colours.map((c) => (c ? hexRgb(c) : null));
  renderClasses();
  renderCaseList();
  const ex = state.session.exemplar;
  const first = ex ? ex.case : state.session.cases[0]?.id;
  if (first) await openCase(first);
}

main();
