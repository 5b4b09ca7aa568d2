// chainrule playground: the page.  Plain JavaScript, no build step, nothing loaded
// from elsewhere.  The server (chainrule.playground.server) trains; this file draws.
//
// Messages over the WebSocket:
//   page -> server (JSON): settings, sync, step, reset, inspect, gradcheck
//   server -> page: JSON hello, data, inspect, gradcheck, error; and each frame as one
//   binary message: its JSON's length (4 bytes, little-endian), the JSON, the heat maps.
'use strict';

(() => {
  const token = new URLSearchParams(location.search).get('token') || '';
  const $ = (id) => document.getElementById(id);
  const FEATURES = ['x1', 'x2', 'x1^2', 'x2^2', 'x1x2', 'sin_x1', 'sin_x2'];
  const FEATURE_LABEL = {
    x1: 'x\u2081', x2: 'x\u2082', 'x1^2': 'x\u2081\u00b2', 'x2^2': 'x\u2082\u00b2',
    x1x2: 'x\u2081x\u2082', sin_x1: 'sin x\u2081', sin_x2: 'sin x\u2082',
  };
  const ACTIVATIONS = ['tanh', 'sigmoid', 'relu', 'leaky_relu', 'identity'];
  const DEFAULTS = {
    dataset: 'circle', noise: 0, ratio: 50, batch: 10, points: 500, classes: 2,
    features: ['x1', 'x2'], layers: [4, 2], activations: ['tanh', 'tanh'], lr: 0.03,
    reg: 'none', reg_rate: 0, optimizer: 'sgd', dropout: [0, 0], input_sigma: false, seed: 1,
  };
  const VIEW_DEFAULTS = { discretize: false, show_test: false, backward: false };
  const INTS = ['noise', 'ratio', 'batch', 'points', 'classes', 'seed'];
  const FLOATS = ['lr', 'reg_rate'];
  const RATES = ['0', '0.1', '0.2', '0.3', '0.5'];
  const NEG = [245, 147, 34];
  const POS = [8, 119, 189];
  const PALETTE = [[245, 147, 34], [8, 119, 189], [60, 160, 60], [200, 50, 60],
    [140, 90, 190], [120, 80, 50], [220, 110, 190], [90, 90, 90]];
  const MAX_LAYERS = 6;
  const MAX_NEURONS = 8;
  const NEURON = 40;       // neuron box, CSS pixels
  const ROW = 50;          // vertical distance between neurons
  const TOP = 76;          // room for a column's title
  const COLUMN = 110;      // a column's width

  let settings = { ...DEFAULTS };
  let view = { ...VIEW_DEFAULTS };
  let ws = null;
  let session = '';
  let data = null;         // the 'data' message: points, split, sizes
  let frame = null;        // the last frame (weights, losses)
  let heat = null;         // Uint8Array of every neuron's map
  let busy = false;        // a step is on its way
  let playing = false;
  let curve = [];          // [epoch, train, test]
  let selected = null;     // index of the clicked point
  let chosen = { layer: null, neuron: 0 };
  let clearOnData = false;
  let hovered = null;      // the link under the mouse
  let written = '';        // the hash this page wrote last
  let frames = 0;          // frames drawn (for the tests' frame rate)
  let drawMs = 0;          // time spent drawing them
  let inspected = null;    // the last 'inspect' answer
  const LUT = makeLut();

  // ---------------------------------------------------------------- colours

  function makeLut() {
    const lut = new Uint8ClampedArray(256 * 3);
    for (let q = 0; q < 256; q += 1) {
      const v = q / 127.5 - 1;
      const c = v >= 0 ? POS : NEG;
      const t = Math.min(1, Math.abs(v));
      for (let k = 0; k < 3; k += 1) lut[3 * q + k] = Math.round(255 + (c[k] - 255) * t);
    }
    return lut;
  }

  function colour(v) {  // v in [-1, 1]
    const q = Math.max(0, Math.min(255, Math.round((v + 1) * 127.5)));
    return `rgb(${LUT[3 * q]},${LUT[3 * q + 1]},${LUT[3 * q + 2]})`;
  }

  // ---------------------------------------------------------------- the URL

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const s = { ...DEFAULTS };
    const v = { ...VIEW_DEFAULTS };
    for (const [key, value] of params) {
      if (key in VIEW_DEFAULTS) v[key] = value === '1';
      else if (key === 'features' || key === 'activations') s[key] = value ? value.split(',') : [];
      else if (key === 'layers' || key === 'dropout') s[key] = value ? value.split(',').map(Number) : [];
      else if (key === 'input_sigma') s[key] = value === '1';
      else if (INTS.includes(key) || FLOATS.includes(key)) s[key] = Number(value);
      else s[key] = value;
    }
    // Per-layer lists left out of the address follow the layers.
    if (!params.has('activations')) s.activations = s.layers.map(() => 'tanh');
    if (!params.has('dropout')) s.dropout = s.layers.map(() => 0);
    return [s, v];
  }

  function writeHash() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(settings)) {
      if (Array.isArray(value)) params.set(key, value.join(','));
      else if (typeof value === 'boolean') params.set(key, value ? '1' : '0');
      else params.set(key, String(value));
    }
    for (const [key, value] of Object.entries(view)) params.set(key, value ? '1' : '0');
    written = `#${params}`;
    history.replaceState(null, '', `${location.pathname}${location.search}${written}`);
  }

  function onHashChange() {  // a pasted or edited address: load its state
    if (location.hash === written) return;
    [settings, view] = readHash();
    curve = [];
    showSettings();
    sendSettings();
  }

  // ---------------------------------------------------------------- messages

  function connect() {
    ws = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (event) => {
      if (typeof event.data !== 'string') {  // a frame: JSON length, JSON, heat maps
        const n = new DataView(event.data).getUint32(0, true);
        const f = JSON.parse(new TextDecoder().decode(new Uint8Array(event.data, 4, n)));
        heat = new Uint8Array(event.data, 4 + n);
        applyFrame(f);
        return;
      }
      const msg = JSON.parse(event.data);
      if (msg.type === 'hello') {
        session = msg.session;
        document.body.dataset.session = session;
        $('export-model').href = `/api/model.npz?token=${encodeURIComponent(token)}&session=${session}`;
        $('export-snippet').href = `/api/snippet.py?token=${encodeURIComponent(token)}&session=${session}`;
        sendSettings();
      } else if (msg.type === 'data') {
        onData(msg);
      } else if (msg.type === 'inspect') {
        showInspect(msg);
      } else if (msg.type === 'gradcheck') {
        showGradcheck(msg);
      } else if (msg.type === 'error') {
        busy = false;
        setPlaying(false);
        showError(msg.message);
        send({ type: 'sync' });
      }
    };
    ws.onclose = () => {
      setPlaying(false);
      showError('the connection to the server closed; restart chainrule playground and reload');
    };
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  function sendSettings() {
    clearOnData = true;
    send({ type: 'settings', settings });
  }

  function showError(text) {
    const box = $('error');
    box.textContent = text;
    box.hidden = false;
  }

  function clearError() {
    $('error').hidden = true;
    $('error').textContent = '';
  }

  // ---------------------------------------------------------------- data and frames

  function onData(msg) {
    data = msg;
    settings = { ...DEFAULTS, ...msg.settings };
    if (clearOnData) clearError();
    clearOnData = false;
    if (selected !== null && selected >= msg.points.length) selected = null;
    writeHash();
    showSettings();
    buildNetwork();
    document.body.dataset.dataset = settings.dataset;
  }

  function applyFrame(f) {
    // While playing, the next epoch is asked for at once: it trains while this
    // frame is drawn.
    busy = false;
    frame = f;
    curve = curve.filter((c) => c[0] < f.epoch);
    curve.push([f.epoch, f.train_loss, f.test_loss]);
    $('epoch').textContent = String(f.epoch);
    $('train-loss').textContent = f.train_loss.toFixed(4);
    $('train-loss').dataset.value = String(f.train_loss);
    $('test-loss').textContent = f.test_loss === null ? '\u2013' : f.test_loss.toFixed(4);
    $('test-loss').dataset.value = String(f.test_loss);
    if (playing) step();
    if (view.backward && selected !== null) inspect();  // keep the backward view live
    render();
  }

  function render() {
    const t0 = performance.now();
    drawHeat();
    drawLinks();
    drawCurve();
    drawOutput();
    frames += 1;
    drawMs += performance.now() - t0;
    document.body.dataset.frames = String(frames);
    document.body.dataset.drawMs = String(drawMs);
  }

  function step() {
    if (busy || !data) return;
    busy = true;
    send({ type: 'step', epochs: 1 });
  }

  function setPlaying(on) {
    playing = on;
    const button = $('play');
    button.setAttribute('aria-pressed', on ? 'true' : 'false');
    button.textContent = on ? '\u23F8 pause' : '\u25B6 play';
    if (on) step();
  }

  // ---------------------------------------------------------------- controls

  function showSettings() {
    for (const el of document.querySelectorAll('[data-setting]')) {
      const key = el.dataset.setting;
      if (el.type === 'checkbox') el.checked = Boolean(settings[key]);
      else setSelect(el, String(settings[key]));
    }
    $('ratio-value').textContent = String(settings.ratio);
    $('noise-value').textContent = String(settings.noise);
    $('batch-value').textContent = String(settings.batch);
    const acts = new Set(settings.activations);
    // One value for every hidden layer, or 'per layer' when they differ.
    if (acts.size === 1) setSelect($('activation'), settings.activations[0]);
    else $('activation').value = '';
    if (new Set(settings.dropout).size === 1) setSelect($('dropout'), String(settings.dropout[0]));
    else $('dropout').value = '';
    $('discretize').checked = view.discretize;
    $('show-test').checked = view.show_test;
    $('backward-view').checked = view.backward;
    const classy = settings.dataset === 'gauss' || settings.dataset === 'spiral';
    $('classes').disabled = !classy;
  }

  function setSelect(el, value) {
    if (el.tagName === 'SELECT' && ![...el.options].some((o) => o.value === value)) {
      const option = document.createElement('option');
      option.textContent = value;
      el.appendChild(option);
    }
    el.value = value;
  }

  function readControl(el) {
    const key = el.dataset.setting;
    if (el.type === 'checkbox') return el.checked;
    if (INTS.includes(key)) return parseInt(el.value, 10);
    if (FLOATS.includes(key)) return parseFloat(el.value);
    return el.value;
  }

  function changed(next) {
    settings = { ...settings, ...next };
    writeHash();
    sendSettings();
  }

  function bindControls() {
    for (const el of document.querySelectorAll('[data-setting]')) {
      const live = el.type === 'range';
      el.addEventListener(live ? 'input' : 'change', () => {
        if (live) $(`${el.id}-value`).textContent = el.value;
        if (el.dataset.setting === 'dataset' && el.value === 'upload' && !(data && data.settings.dataset === 'upload')) {
          showError('choose a CSV file below and press "use this file"');
          setSelect(el, settings.dataset);
          return;
        }
        changed({ [el.dataset.setting]: readControl(el) });
      });
    }
    $('activation').addEventListener('change', (e) => {
      changed({ activations: settings.layers.map(() => e.target.value) });
    });
    $('dropout').addEventListener('change', (e) => {
      changed({ dropout: settings.layers.map(() => Number(e.target.value)) });
    });
    for (const el of document.querySelectorAll('[data-view]')) {
      el.addEventListener('change', () => {
        view[el.dataset.view] = el.checked;
        writeHash();
        drawOutput();
        drawHeat();
        drawLinks();
      });
    }
    $('play').addEventListener('click', () => setPlaying(!playing));
    $('step').addEventListener('click', () => { setPlaying(false); step(); });
    $('reset').addEventListener('click', () => {
      setPlaying(false);
      curve = [];
      send({ type: 'reset' });
    });
    $('add-layer').addEventListener('click', () => {
      if (settings.layers.length >= MAX_LAYERS) return;
      changed({ layers: [...settings.layers, 2],
        activations: [...settings.activations, settings.activations.at(-1) || 'tanh'],
        dropout: [...settings.dropout, settings.dropout.at(-1) || 0] });
    });
    $('remove-layer').addEventListener('click', () => {
      if (!settings.layers.length) return;
      changed({ layers: settings.layers.slice(0, -1), activations: settings.activations.slice(0, -1),
        dropout: settings.dropout.slice(0, -1) });
    });
    $('gradcheck').addEventListener('click', () => {
      $('gradcheck-result').textContent = 'checking\u2026';
      send({ type: 'gradcheck' });
    });
    $('output').addEventListener('click', clickOutput);
    $('file').addEventListener('change', readHeader);
    $('upload').addEventListener('click', upload);
    $('pick-layer').addEventListener('change', (e) => {
      chosen = { layer: Number(e.target.value), neuron: 0 };
      inspect();
    });
    $('pick-neuron').addEventListener('change', (e) => {
      chosen = { ...chosen, neuron: Number(e.target.value) };
      inspect();
    });
    document.addEventListener('keydown', (e) => {
      const tag = e.target && e.target.tagName;
      if (tag === 'INPUT' && e.target.type !== 'checkbox' && e.target.type !== 'range') return;
      if (tag === 'SELECT' || tag === 'TEXTAREA') return;
      if (e.key === ' ' || e.code === 'Space') {
        e.preventDefault();
        setPlaying(!playing);
      } else if (e.key === 'ArrowRight') {
        e.preventDefault();
        setPlaying(false);
        step();
      }
    });
    document.addEventListener('keyup', (e) => {  // a focused button must not click again
      if (e.key === ' ' && e.target && e.target.tagName === 'BUTTON') e.preventDefault();
    });
  }

  // ---------------------------------------------------------------- the network view

  function columns() {
    // [{l, names}] for l = 1..L; layer 1 lists every feature (inactive ones greyed).
    const L = data.sizes.length;
    const cols = [{ l: 1, units: FEATURES.map((f) => ({ feature: f, j: settings.features.indexOf(f) })) }];
    for (let l = 2; l <= L; l += 1) {
      const units = [];
      for (let j = 0; j < data.sizes[l - 1]; j += 1) units.push({ j });
      cols.push({ l, units });
    }
    return cols;
  }

  function buildNetwork() {
    const box = $('network');
    for (const old of box.querySelectorAll('.column')) old.remove();
    const cols = columns();
    const width = box.clientWidth || 600;
    const gap = cols.length > 1 ? (width - COLUMN) / (cols.length - 1) : 0;
    const L = data.sizes.length;
    let maxRows = 0;
    cols.forEach((col, c) => {
      const div = document.createElement('div');
      div.className = 'column';
      div.style.left = `${c * gap}px`;
      const title = document.createElement('div');
      title.className = 'title';
      if (col.l === 1) {
        title.textContent = 'inputs a\u00b9';
      } else if (col.l === L) {
        title.textContent = `output a${sup(L)}`;
      } else {
        const h = col.l - 2;
        title.append(`layer ${col.l}: `);
        const plus = button('+', () => resize(h, 1), `add a neuron to layer ${col.l}`);
        const minus = button('\u2212', () => resize(h, -1), `remove a neuron from layer ${col.l}`);
        title.append(plus, minus, document.createElement('br'));
        const act = document.createElement('select');
        act.title = `\u03c3 of layer ${col.l}`;
        for (const a of ACTIVATIONS) act.append(new Option(a, a));
        act.value = settings.activations[h];
        act.addEventListener('change', () => {
          const acts = [...settings.activations];
          acts[h] = act.value;
          changed({ activations: acts });
        });
        const drop = document.createElement('select');
        drop.title = `dropout of layer ${col.l}`;
        for (const r of RATES) drop.append(new Option(`drop ${r}`, r));
        setSelect(drop, String(settings.dropout[h]));
        drop.addEventListener('change', () => {
          const rates = [...settings.dropout];
          rates[h] = Number(drop.value);
          changed({ dropout: rates });
        });
        title.append(act, document.createElement('br'), drop);
      }
      div.append(title);
      col.units.forEach((u) => {
        const n = document.createElement('div');
        n.className = 'neuron';
        n.dataset.layer = String(col.l);
        n.dataset.neuron = String(u.j);
        const canvas = document.createElement('canvas');
        canvas.width = data.grid;
        canvas.height = data.grid;
        n.append(canvas);
        if (col.l === 1) {
          const label = document.createElement('span');
          label.className = 'feature';
          label.textContent = FEATURE_LABEL[u.feature];
          n.append(label);
          n.dataset.feature = u.feature;
          n.title = `${FEATURE_LABEL[u.feature]}: click to ${u.j < 0 ? 'use' : 'drop'} this input`;
          if (u.j < 0) n.classList.add('off');
          n.addEventListener('click', () => toggleFeature(u.feature));
        } else {
          n.title = `neuron ${u.j + 1} of layer ${col.l}: click to show its equations`;
          n.addEventListener('click', () => {
            chosen = { layer: col.l, neuron: u.j };
            markChosen();
            if (selected !== null) inspect();
          });
        }
        div.append(n);
      });
      maxRows = Math.max(maxRows, col.units.length);
      box.append(div);
    });
    box.style.height = `${TOP + maxRows * ROW + 10}px`;
    buildLinks(cols, gap);
    $('network-summary').textContent = `[${data.sizes.join(', ')}] \u00b7 ${data.cost}`;
    markChosen();
  }

  function sup(n) {
    const digits = '\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079';
    return String(n).split('').map((d) => digits[Number(d)]).join('');
  }

  function button(text, onClick, title) {
    const b = document.createElement('button');
    b.textContent = text;
    b.title = title;
    b.addEventListener('click', onClick);
    return b;
  }

  function resize(h, by) {
    const layers = [...settings.layers];
    layers[h] = Math.max(1, Math.min(MAX_NEURONS, layers[h] + by));
    changed({ layers });
  }

  function toggleFeature(f) {
    const on = new Set(settings.features);
    if (on.has(f)) {
      if (on.size === 1) return;
      on.delete(f);
    } else on.add(f);
    changed({ features: FEATURES.filter((x) => on.has(x)) });
  }

  function centre(col, row, gap) {
    return [col * gap + COLUMN / 2, TOP + row * ROW + NEURON / 2 + 1];
  }

  function buildLinks(cols, gap) {
    const svg = $('links');
    while (svg.firstChild) svg.firstChild.remove();
    const ns = 'http://www.w3.org/2000/svg';
    for (let c = 1; c < cols.length; c += 1) {
      const prev = cols[c - 1];
      const l = cols[c].l;
      prev.units.forEach((p, row) => {
        if (p.j < 0) return;
        cols[c].units.forEach((u, r) => {
          const [x0, y0] = centre(c - 1, row, gap);
          const [x1, y1] = centre(c, r, gap);
          const path = document.createElementNS(ns, 'path');
          const mx = (x0 + x1) / 2;
          path.setAttribute('d', `M${x0 + NEURON / 2},${y0} C${mx},${y0} ${mx},${y1} ${x1 - NEURON / 2},${y1}`);
          path.dataset.layer = String(l);
          path.dataset.from = String(p.j);
          path.dataset.to = String(u.j);
          path.addEventListener('mouseenter', (e) => { hovered = path; tooltip(e); });
          path.addEventListener('mousemove', tooltip);
          path.addEventListener('mouseleave', () => { hovered = null; $('tooltip').hidden = true; });
          svg.append(path);
        });
      });
    }
  }

  function weightOf(path) {
    const l = Number(path.dataset.layer);
    return frame.weights[l - 2][Number(path.dataset.to)][Number(path.dataset.from)];
  }

  function gradientOf(path, b) {  // eq. 13 for the clicked point: a^{l-1}_i · δ^l_j
    const l = Number(path.dataset.layer);
    return b.a[l - 1][Number(path.dataset.from)] * b.delta[l][Number(path.dataset.to)];
  }

  function tooltip(e) {
    if (!hovered || !frame) return;
    const tip = $('tooltip');
    const l = hovered.dataset.layer;
    const ji = `${Number(hovered.dataset.to) + 1},${Number(hovered.dataset.from) + 1}`;
    const b = backwardView();
    tip.textContent = b ? `\u2202C/\u2202W${sup(l)}[${ji}] = a\u00b7\u03b4 = ${gradientOf(hovered, b).toPrecision(4)}`
      : `W${sup(l)}[${ji}] = ${weightOf(hovered).toPrecision(4)}`;
    if (e) {
      tip.style.left = `${e.clientX + 12}px`;
      tip.style.top = `${e.clientY + 12}px`;
    }
    tip.hidden = false;
  }

  function drawLinks() {
    if (!frame) return;
    const b = backwardView();
    const paths = $('links').querySelectorAll('path');
    let scale = 1;
    if (b) {
      let peak = 1e-300;
      for (const path of paths) peak = Math.max(peak, Math.abs(gradientOf(path, b)));
      scale = 3 / peak;
    }
    for (const path of paths) {
      // Only a visible change repaints: the sign, or the width in quarter pixels.
      const w = b ? gradientOf(path, b) * scale : weightOf(path);
      const stroke = w >= 0 ? 'rgb(8,119,189)' : 'rgb(245,147,34)';
      const width = String(Math.round(4 * Math.min(8, 0.5 + Math.abs(w) * 2)) / 4);
      if (path.dataset.stroke !== stroke) {
        path.setAttribute('stroke', stroke);
        path.dataset.stroke = stroke;
      }
      if (path.dataset.width !== width) {
        path.setAttribute('stroke-width', width);
        path.dataset.width = width;
      }
    }
    if (hovered) tooltip(null);
  }

  function mapOf(l, j) {
    // The byte offset of neuron j of layer l in the heat maps.
    const g2 = data.grid * data.grid;
    let offset = 0;
    for (let k = 1; k < l; k += 1) offset += data.sizes[k - 1] * g2;
    return offset + j * g2;
  }

  function paint(canvas, offset) {
    const g = data.grid;
    const ctx = canvas.getContext('2d');
    const img = ctx.createImageData(g, g);
    for (let p = 0; p < g * g; p += 1) {
      const q = heat[offset + p];
      img.data[4 * p] = LUT[3 * q];
      img.data[4 * p + 1] = LUT[3 * q + 1];
      img.data[4 * p + 2] = LUT[3 * q + 2];
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function backwardView() {
    // The backward view: the clicked point's δ and gradients instead of the maps and weights.
    return view.backward && inspected && selected === inspected.index ? inspected : null;
  }

  function deltaOf(b, l, j) {
    return l >= 2 ? b.delta[l][j] : b.delta_explicit[l][j];
  }

  function drawHeat() {
    if (!heat || !data) return;
    const b = backwardView();
    let peak = 1e-300;
    if (b) {
      for (let l = 1; l <= data.sizes.length; l += 1) {
        for (let j = 0; j < data.sizes[l - 1]; j += 1) peak = Math.max(peak, Math.abs(deltaOf(b, l, j)));
      }
    }
    for (const n of $('network').querySelectorAll('.neuron')) {
      const l = Number(n.dataset.layer);
      const j = Number(n.dataset.neuron);
      const canvas = n.querySelector('canvas');
      const ctx = canvas.getContext('2d');
      if (j < 0) {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
      } else if (b) {
        const d = deltaOf(b, l, j);
        ctx.fillStyle = colour(d / peak);
        ctx.fillRect(0, 0, canvas.width, canvas.height);
        n.dataset.delta = String(d);
      } else {
        paint(canvas, mapOf(l, j));
      }
    }
  }

  function markChosen() {
    for (const n of $('network').querySelectorAll('.neuron')) {
      n.classList.toggle('chosen', selected !== null && Number(n.dataset.layer) === chosen.layer
        && Number(n.dataset.neuron) === chosen.neuron);
    }
  }

  // ---------------------------------------------------------------- output and curve

  function toPixel(x1, x2, size) {
    const [a, b, c, d] = data.extent;
    return [(x1 - a) / (b - a) * size, (d - x2) / (d - c) * size];
  }

  function drawOutput() {
    if (!heat || !data) return;
    const g = data.grid;
    const L = data.sizes.length;
    const k = data.sizes[L - 1];
    const off = document.createElement('canvas');
    off.width = g;
    off.height = g;
    const octx = off.getContext('2d');
    const img = octx.createImageData(g, g);
    const base = mapOf(L, 0);
    const g2 = g * g;
    for (let p = 0; p < g2; p += 1) {
      let rgb;
      if (k === 1) {
        let q = heat[base + p];
        if (view.discretize) q = q >= 128 ? 255 : 0;
        rgb = [LUT[3 * q], LUT[3 * q + 1], LUT[3 * q + 2]];
      } else {
        let best = 0;
        let top = -1;
        for (let c = 0; c < k; c += 1) {
          const q = heat[base + c * g2 + p];
          if (q > top) { top = q; best = c; }
        }
        const prob = top / 255;
        const t = view.discretize ? 1 : Math.max(0, (prob - 1 / k) / (1 - 1 / k));
        const col = PALETTE[best % PALETTE.length];
        rgb = col.map((v) => Math.round(255 + (v - 255) * 0.8 * t));
      }
      img.data[4 * p] = rgb[0];
      img.data[4 * p + 1] = rgb[1];
      img.data[4 * p + 2] = rgb[2];
      img.data[4 * p + 3] = 255;
    }
    octx.putImageData(img, 0, 0);
    const canvas = $('output');
    const ctx = canvas.getContext('2d');
    const size = canvas.width;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, size, size);
    const draw = (i, test) => {
      const [x, y] = toPixel(data.points[i][0], data.points[i][1], size);
      ctx.beginPath();
      ctx.arc(x, y, 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = pointColour(data.y[i]);
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = test ? '#000' : '#fff';
      ctx.stroke();
    };
    for (const i of data.train) draw(i, false);
    if (view.show_test) for (const i of data.test) draw(i, true);
    if (selected !== null) {
      const [x, y] = toPixel(data.points[selected][0], data.points[selected][1], size);
      ctx.beginPath();
      ctx.arc(x, y, 8, 0, 2 * Math.PI);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = '#183d4e';
      ctx.stroke();
    }
  }

  function pointColour(y) {
    if (data.task === 'regression') return colour(Math.max(-1, Math.min(1, y)));
    if (data.classes === 2) return y === 1 ? 'rgb(8,119,189)' : 'rgb(245,147,34)';
    const c = PALETTE[y % PALETTE.length];
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function drawCurve() {
    const canvas = $('curve');
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (curve.length < 2) return;
    let top = 0;
    for (const [, a, b] of curve) top = Math.max(top, a, b === null ? 0 : b);
    if (!(top > 0)) return;
    const first = curve[0][0];
    const span = Math.max(1, curve.at(-1)[0] - first);
    const line = (k, style) => {
      ctx.beginPath();
      curve.forEach((c, i) => {
        if (c[k] === null) return;
        const x = (c[0] - first) / span * (canvas.width - 4) + 2;
        const y = canvas.height - 2 - c[k] / top * (canvas.height - 4);
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.strokeStyle = style;
      ctx.lineWidth = 1.5;
      ctx.stroke();
    };
    line(2, '#999');
    line(1, '#183d4e');
  }

  function clickOutput(e) {
    if (!data) return;
    const canvas = $('output');
    const rect = canvas.getBoundingClientRect();
    const px = (e.clientX - rect.left) / rect.width * canvas.width;
    const py = (e.clientY - rect.top) / rect.height * canvas.height;
    const shown = view.show_test ? [...data.train, ...data.test] : data.train;
    let best = null;
    let bestD = 12 * 12;
    for (const i of shown) {
      const [x, y] = toPixel(data.points[i][0], data.points[i][1], canvas.width);
      const d = (x - px) ** 2 + (y - py) ** 2;
      if (d <= bestD) { bestD = d; best = i; }
    }
    if (best === null) return;
    selected = best;
    drawOutput();
    inspect();
  }

  // ---------------------------------------------------------------- the backward view

  function inspect() {
    if (selected === null || !data) return;
    const L = data.sizes.length;
    const layer = chosen.layer && chosen.layer <= L ? chosen.layer : L;
    const neuron = Math.min(chosen.neuron, data.sizes[layer - 1] - 1);
    chosen = { layer, neuron };
    markChosen();
    send({ type: 'inspect', index: selected, layer, neuron });
  }

  function fmt(v) {
    return Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toFixed(4);
  }

  function cell(row, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    row.append(td);
    return td;
  }

  function matrix(title, rows, note) {
    const box = document.createElement('div');
    const h = document.createElement('h3');
    h.textContent = title;
    box.append(h);
    const table = document.createElement('table');
    table.className = 'matrix';
    for (const r of rows) {
      const tr = document.createElement('tr');
      for (const v of r) cell(tr, fmt(v));
      table.append(tr);
    }
    box.append(table);
    if (note) {
      const p = document.createElement('div');
      p.className = 'hint';
      p.textContent = note;
      box.append(p);
    }
    return box;
  }

  function showInspect(msg) {
    inspected = msg;
    if (view.backward) { drawHeat(); drawLinks(); }
    const box = $('backward');
    box.hidden = false;
    const L = data.sizes.length;
    const target = data.task === 'regression' ? msg.target[0].toPrecision(4) : String(data.y[msg.index]);
    $('point-name').textContent = `#${msg.index} (${msg.split}) at (${msg.point.map((v) => v.toFixed(3)).join(', ')}), target \u03bb = ${target}, C = ${fmt(msg.cost)}`;
    const passes = $('passes');
    passes.replaceChildren();
    for (let l = 1; l <= L; l += 1) {
      const table = document.createElement('table');
      table.className = 'pass';
      const cap = document.createElement('caption');
      cap.textContent = l === 1 ? 'layer 1 (inputs)' : l === L ? `layer ${L} (output)` : `layer ${l}`;
      table.append(cap);
      const head = document.createElement('tr');
      for (const h of ['j', `z${sup(l)}`, `a${sup(l)}`, `\u03b4${sup(l)}`]) {
        const th = document.createElement('th');
        th.textContent = h;
        head.append(th);
      }
      table.append(head);
      const deltas = l >= 2 ? msg.delta[l] : msg.delta_explicit[l];
      const peak = Math.max(1e-300, ...deltas.map(Math.abs));
      for (let j = 0; j < msg.z[l].length; j += 1) {
        const tr = document.createElement('tr');
        cell(tr, String(j + 1));
        cell(tr, fmt(msg.z[l][j]));
        cell(tr, fmt(msg.a[l][j]));
        const td = cell(tr, fmt(deltas[j]));
        td.dataset.testid = l >= 2 ? 'delta' : 'delta-input';
        td.dataset.layer = String(l);
        td.dataset.neuron = String(j);
        td.dataset.value = String(deltas[j]);
        td.style.backgroundColor = colour(deltas[j] / peak * 0.8);
        td.title = l >= 2 ? 'from Network.backprop (eq. 15: \u2202C/\u2202b = \u03b4)' : 'the explicit chain (eq. 6)';
        table.append(tr);
      }
      passes.append(table);
    }
    const pickL = $('pick-layer');
    pickL.replaceChildren(...Array.from({ length: L - 1 }, (_, i) => new Option(String(i + 2), String(i + 2))));
    pickL.value = String(msg.layer);
    const pickN = $('pick-neuron');
    pickN.replaceChildren(...Array.from({ length: data.sizes[msg.layer - 1] }, (_, j) => new Option(String(j + 1), String(j))));
    pickN.value = String(msg.neuron);
    const eqs = $('equations');
    eqs.replaceChildren();
    for (const e of msg.equations) {
      const div = document.createElement('div');
      const tag = document.createElement('span');
      tag.className = 'eq';
      tag.textContent = e.eq;
      div.append(tag, `${pretty(e.formula)} ${e.numbers}`);
      eqs.append(div);
    }
    const l = msg.layer;
    const j = msg.neuron;
    const tensors = $('tensors');
    tensors.replaceChildren(
      matrix(`\u2202z${sup(l)}/\u2202a${sup(l - 1)} = W${sup(l)}  (N${sub(l)} \u00d7 N${sub(l - 1)})`, msg.W),
      matrix(`\u2202z${sup(l)}/\u2202z${sup(l - 1)} = W${sup(l)} \u00b7 diag \u03c3\u2032(z${sup(l - 1)})  (eq. 7)`, msg.dz_dz),
      matrix(`[\u2202z${sup(l)}/\u2202W${sup(l)}][${j + 1}, \u00b7, \u00b7]: slice ${j + 1} of the 3-tensor (N${sub(l)} \u00d7 N${sub(l - 1)} \u00d7 N${sub(l)}, eq. 12)`, msg.dz_dW[j]),
      matrix(`\u03b4${sup(l)} \u00b7 [\u2202z${sup(l)}/\u2202W${sup(l)}] = a${sup(l - 1)} \u2297 \u03b4${sup(l)}  (eq. 13, chainrule.tensors)`, msg.dC_dW),
      matrix('the fast path: Network.backprop\u2019s gradient (transposed to the seed\u2019s layout)', msg.fast_dC_dW,
        `they agree: max relative difference ${msg.agreement.toExponential(2)}`),
    );
    tensors.dataset.agreement = String(msg.agreement);
  }

  function pretty(text) {  // δ^4_1 -> δ⁴₁ (the server writes the seed's ASCII indices)
    const subs = { k: '\u2096', m: '\u2098', i: '\u1d62', j: '\u2c7c' };
    return text.replace(/\^(\d+)/g, (_, d) => sup(d))
      .replace(/_([0-9kmij]+)/g, (_, d) => d.split('').map((c) => subs[c] || sub(c)).join(''));
  }

  function sub(n) {
    const digits = '\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089';
    return String(n).split('').map((d) => digits[Number(d)]).join('');
  }

  function showGradcheck(msg) {
    const out = $('gradcheck-result');
    out.className = msg.passed ? 'ok' : 'bad';
    out.dataset.passed = String(msg.passed);
    out.dataset.worst = String(msg.worst.max_rel_error);
    out.textContent = `${msg.passed ? 'passed' : 'FAILED'}: worst relative error ${msg.worst.max_rel_error.toExponential(2)} (${msg.worst.array}), central differences on ${msg.rows} training points`;
  }

  // ---------------------------------------------------------------- upload

  function splitHeader(line) {
    const cells = [];
    let cur = '';
    let quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      else if (ch === ',' && !quoted) { cells.push(cur.trim()); cur = ''; } else cur += ch;
    }
    cells.push(cur.trim());
    return cells;
  }

  async function readHeader() {
    const file = $('file').files[0];
    if (!file) return;
    const head = await file.slice(0, 65536).text();
    const first = head.replace(/^\ufeff/, '').split(/\r?\n/)[0] || '';
    const names = splitHeader(first);
    const fill = (id, pick) => {
      const sel = $(id);
      sel.replaceChildren(...names.map((n) => new Option(n, n)));
      sel.value = names[Math.min(pick, names.length - 1)] || '';
    };
    fill('col-x1', 0);
    fill('col-x2', 1);
    fill('col-target', names.length - 1);
  }

  async function upload() {
    const file = $('file').files[0];
    if (!file) { showError('choose a CSV file first'); return; }
    if (!session) return;
    setPlaying(false);
    const q = new URLSearchParams({
      token, name: file.name, x1: $('col-x1').value, x2: $('col-x2').value,
      target: $('col-target').value,
    });
    let answer;
    try {
      const response = await fetch(`/api/sessions/${session}/upload?${q}`, {
        method: 'POST', body: file, headers: { 'content-type': 'text/csv' },
      });
      answer = await response.json();
    } catch (err) {
      showError(`the upload failed: ${err}`);
      return;
    }
    if (answer.error) { showError(answer.error); return; }
    clearError();
    curve = [];
    selected = null;
    send({ type: 'sync' });
  }

  // ---------------------------------------------------------------- start

  function start() {
    [settings, view] = readHash();
    bindControls();
    showSettings();
    window.addEventListener('hashchange', onHashChange);
    window.addEventListener('resize', () => { if (data) { buildNetwork(); drawHeat(); drawLinks(); } });
    connect();
  }

  start();
})();
