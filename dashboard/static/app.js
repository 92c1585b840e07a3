// aria node dashboard: plain JavaScript, same-origin calls to the node's API.
// Untrusted text (model output, intention content, names from the API) is only ever
// set with textContent or text nodes, never parsed as HTML.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);

  // h builds an element; string children become text nodes.
  function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of kids.flat()) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
    return e;
  }
  const svg = (tag, attrs) => {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    return e;
  };

  // ---- formatting
  const num = (x, d = 1) => (x == null || Number.isNaN(x) ? '–' : Number(x).toLocaleString(undefined, { maximumFractionDigits: d }));
  function bytes(n) {
    if (!n) return n === 0 ? '0 B' : '–';
    const u = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return num(n, i ? 1 : 0) + ' ' + u[i];
  }
  function dur(s) {
    if (s == null) return '–';
    s = Math.floor(s);
    const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d) return `${d}d ${hh}h ${m}m`;
    if (hh) return `${hh}h ${m}m`;
    return m ? `${m}m ${s % 60}s` : `${s}s`;
  }
  const params = (n) => (n >= 1e9 ? num(n / 1e9) + ' B' : n >= 1e6 ? num(n / 1e6) + ' M' : num(n, 0));
  const when = (t) => (t ? new Date(t).toLocaleString() : '–');
  function energyMJ(mj) {
    if (mj == null) return '–';
    if (Math.abs(mj) >= 3.6e6) return num(mj / 3.6e9, 4) + ' kWh';
    if (Math.abs(mj) >= 1000) return num(mj / 1000, 2) + ' J';
    return num(mj, 1) + ' mJ';
  }
  const pill = (ok, yes = 'yes', no = 'no') => h('span', { class: 'pill ' + (ok ? 'yes' : 'no'), text: ok ? yes : no });
  const stat = (k, v, s) => h('div', { class: 'stat' }, h('div', { class: 'k', text: k }), h('div', { class: 'v', text: v }), s ? h('div', { class: 's', text: s }) : null);
  function table(cols, rows, empty, caption) {
    if (!rows.length) return h('p', { class: 'empty', text: empty });
    return h('div', { class: 'table-wrap' }, h('table', {},
      caption ? h('caption', { class: 'sr-only', text: caption }) : null,
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => (c instanceof Node && c.tagName === 'TD' ? c : h('td', {}, c))))))));
  }
  function setMsg(el, text, kind) { el.textContent = text || ''; el.className = 'msg' + (kind ? ' ' + kind : ''); }

  // ---- auth, kept in this tab only
  const AUTH = 'aria.auth';
  let auth = {};
  try { auth = JSON.parse(sessionStorage.getItem(AUTH) || '{}') || {}; } catch { auth = {}; }
  const saveAuth = () => { sessionStorage.setItem(AUTH, JSON.stringify(auth)); showWho(); };

  class ApiError extends Error { constructor(status, message, code) { super(message); this.status = status; this.code = code; } }
  class NodeDown extends Error {}

  function headersFor(path, hasBody) {
    const hd = {};
    if (hasBody) hd['Content-Type'] = 'application/json';
    const admin = path.startsWith('/api/admin') || path.startsWith('/v1/model-store');
    if (admin && auth.admin) hd['X-Admin-Secret'] = auth.admin;
    const bearer = path.startsWith('/v1/') ? (auth.key || auth.jwt) : (auth.jwt || auth.key);
    if (bearer && !path.startsWith('/api/admin')) hd.Authorization = 'Bearer ' + bearer;
    return hd;
  }
  function errorText(data, raw, res) {
    if (data && data.error) {
      if (typeof data.error === 'string') return data.error + (data.code ? ` (${data.code})` : '');
      if (data.error.message) return data.error.message + (data.error.code ? ` (${data.error.code})` : '');
    }
    if (raw && raw.length < 200 && !/^\s*</.test(raw)) return `${res.status}: ${raw.trim()}`;
    return `The node answered ${res.status} ${res.statusText || ''}`.trim();
  }
  async function refreshJWT() {
    if (!auth.refresh) return false;
    try {
      const r = await fetch('/api/auth/refresh', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ refresh_token: auth.refresh }) });
      if (!r.ok) return false;
      const d = await r.json();
      auth.jwt = d.access_token; auth.refresh = d.refresh_token || auth.refresh; saveAuth();
      return true;
    } catch { return false; }
  }
  // api calls the node; raw returns the Response of a successful call (for streams).
  async function api(path, opts = {}, retried = false) {
    const hasBody = opts.body !== undefined;
    let res;
    try {
      res = await fetch(path, { method: opts.method || 'GET', headers: headersFor(path, hasBody), body: hasBody ? JSON.stringify(opts.body) : undefined, signal: opts.signal, cache: 'no-store' });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new NodeDown('Cannot reach the node at ' + location.host + ' (' + e.message + ').');
    }
    nodeUp();
    if (res.status === 401 && auth.jwt && !retried && path.startsWith('/api/') && await refreshJWT()) return api(path, opts, true);
    if (res.ok && opts.raw) return res;
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok && !(opts.accept || []).includes(res.status)) {
      const code = data && data.error ? (typeof data.error === 'string' ? data.code : data.error.code) : '';
      throw new ApiError(res.status, errorText(data, text, res), code);
    }
    return data;
  }

  // ---- node-down banner
  function nodeDown(msg) {
    $('banner-text').textContent = msg + ' Is it running? Nothing on this page is lost; retry when it is back.';
    $('banner').hidden = false;
    document.body.classList.add('down'); // what the page shows is from before the node went away
  }
  function nodeUp() { $('banner').hidden = true; document.body.classList.remove('down'); }

  // Errors of a view: node down → banner; 401 → sign in; others → the view's message.
  function fail(e, el) {
    if (e instanceof NodeDown) { nodeDown(e.message); if (el) setMsg(el, 'The node is not reachable.', 'error'); return; }
    if (e instanceof ApiError && e.status === 401) { needSignIn(e.message, e.code); if (el) setMsg(el, e.message, 'error'); return; }
    if (el) setMsg(el, e.message || String(e), 'error');
    else viewMsg(e.message || String(e));
  }
  function viewMsg(text) {
    const sec = $('view-' + current);
    if (!sec) return;
    let p = sec.querySelector(':scope > .view-msg');
    if (!p) { p = h('p', { class: 'msg error view-msg', role: 'alert' }); sec.querySelector('h1').after(p); }
    setMsg(p, text, text ? 'error view-msg' : 'view-msg');
  }

  // ---- views and routing
  const views = {
    signin: { load: async () => {} },
    chat: { load: loadChat },
    node: { load: loadNode, every: 2000 },
    models: { load: loadStore },
    network: { load: loadNetwork, every: 5000 },
    energy: { load: loadEnergy, every: 10000 },
    consent: { load: loadConsent },
    admin: { load: loadAdmin },
  };
  let current = null, timer = null, afterSignIn = 'chat';
  async function run(name) {
    const v = views[name];
    try { viewMsg(''); await v.load(); } catch (e) { fail(e); }
  }
  function show(name) {
    if (!views[name]) name = 'chat';
    chartAt = -Infinity;
    clearInterval(timer); timer = null;
    current = name;
    for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== 'view-' + name;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.view === name) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    document.title = 'aria · ' + name;
    run(name);
    const every = views[name].every;
    if (every) timer = setInterval(() => { if (!document.hidden && $('banner').hidden) run(name); }, every);
  }
  const route = () => show((location.hash || '#chat').slice(1));
  window.addEventListener('hashchange', () => { route(); $('main').focus({ preventScroll: true }); });
  $('banner-retry').addEventListener('click', () => run(current));

  // ---- sign in
  function showWho() {
    const who = [];
    if (auth.key) who.push('key ' + auth.key.slice(0, 9) + '…');
    if (auth.email) who.push(auth.email);
    if (auth.admin) who.push('admin');
    $('who').textContent = who.length ? 'Signed in: ' + who.join(', ') : '';
    $('signout-btn').hidden = !who.length;
  }
  function needSignIn(msg, code) {
    if (current !== 'signin') afterSignIn = current || 'chat';
    $('signin-why').textContent = (msg ? msg + '. ' : '') + 'Sign in to continue. Credentials stay in this tab only (session storage).';
    location.hash = '#signin';
  }
  $('signin-btn').addEventListener('click', () => { afterSignIn = current && current !== 'signin' ? current : 'chat'; location.hash = '#signin'; });
  $('signout-btn').addEventListener('click', async () => {
    if (auth.refresh) { try { await api('/api/auth/logout', { method: 'POST', body: { refresh_token: auth.refresh } }); } catch { /* signing out anyway */ } }
    auth = {}; saveAuth();
    if (location.hash === '#chat') show('chat'); else location.hash = '#chat';
  });
  function signedIn() { setMsg($('signin-msg'), ''); location.hash = '#' + (afterSignIn === 'signin' ? 'chat' : afterSignIn); }
  $('form-key').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const prev = auth.key;
    auth.key = $('in-key').value.trim();
    try { await api('/v1/models'); $('in-key').value = ''; saveAuth(); signedIn(); } catch (e) { auth.key = prev; fail(e, $('signin-msg')); }
  });
  $('form-login').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const d = await api('/api/auth/login', { method: 'POST', body: { email: $('in-email').value.trim(), password: $('in-password').value } });
      auth.jwt = d.access_token; auth.refresh = d.refresh_token; auth.email = $('in-email').value.trim();
      $('in-password').value = ''; saveAuth(); signedIn();
    } catch (e) { fail(e, $('signin-msg')); }
  });
  $('form-admin').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const prev = auth.admin;
    auth.admin = $('in-admin').value;
    try { await api('/api/admin/stats'); $('in-admin').value = ''; saveAuth(); if (afterSignIn === 'chat') afterSignIn = 'admin'; signedIn(); } catch (e) { auth.admin = prev; fail(e, $('signin-msg')); }
  });

  // ---- chat
  let models = [];
  const convo = [];
  let chatAbort = null;
  // Where a model of /v1/models runs: the node's own kernel, a peer (aria.remote), or a
  // configured provider (owned_by names it; "local" and "network" are the built-in ones).
  function modelKind(m) {
    if (m.owned_by && m.owned_by !== 'aria-protocol') {
      return m.owned_by === 'local' || m.owned_by === 'network' ? 'provider ' + m.owned_by : 'upstream ' + m.owned_by;
    }
    return m.aria && m.aria.remote ? 'peer' : 'local';
  }
  // A user signed in with a login (a JWT, no API key) chats through the ARES chat API,
  // /api/chat/stream, where the tenant's agents pick the model; /v1 needs a key.
  const viaARES = () => !auth.key && !!auth.jwt;
  async function loadChat() {
    let list = null;
    try { list = await api('/v1/models'); } catch (e) { if (!(viaARES() && e instanceof ApiError && e.status === 401)) throw e; }
    models = (list && list.data) || [];
    const sel = $('chat-model'), keep = sel.value;
    sel.replaceChildren(...models.map((m) => h('option', { value: m.id, text: `${m.id} (${modelKind(m)}${m.aria && m.aria.synthetic ? ', synthetic' : ''})` })));
    if (viaARES()) sel.prepend(h('option', { value: '', text: 'Default agent (ARES chat)' }));
    else if (!models.length) sel.append(h('option', { value: '', text: 'No model available' }));
    if (models.some((m) => m.id === keep)) sel.value = keep;
    $('chat-send').disabled = (!models.length && !viaARES()) || !!chatAbort;
    updateSynthetic();
  }
  function updateSynthetic() {
    const m = models.find((x) => x.id === $('chat-model').value);
    $('chat-synthetic').hidden = !(m && m.aria && m.aria.synthetic);
  }
  $('chat-model').addEventListener('change', updateSynthetic);
  function addMsg(role, text) {
    $('chat-empty').hidden = true;
    const li = h('li', { class: role }, h('div', { class: 'role', text: role === 'user' ? 'You' : 'Assistant' }), h('div', { class: 'text', text }), h('div', { class: 'meta' }));
    const log = $('chat-log');
    log.append(li);
    log.scrollTop = log.scrollHeight;
    return li;
  }
  $('chat-clear').addEventListener('click', () => {
    if (chatAbort) chatAbort.abort();
    convo.length = 0; $('chat-log').replaceChildren(); $('chat-empty').hidden = false; setMsg($('chat-msg'), '');
  });
  $('chat-input').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $('chat-form').requestSubmit(); }
  });
  $('chat-stop').addEventListener('click', () => { if (chatAbort) chatAbort.abort(); });
  $('chat-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('chat-input').value.trim();
    const model = $('chat-model').value;
    if (!text || chatAbort) return;
    if (!model && !viaARES()) { setMsg($('chat-msg'), 'No model to send to: pull or load one first (Models).', 'error'); return; }
    setMsg($('chat-msg'), '');
    $('chat-input').value = '';
    convo.push({ role: 'user', content: text });
    addMsg('user', text);
    const messages = [];
    const sys = $('chat-system').value.trim();
    if (sys) messages.push({ role: 'system', content: sys });
    messages.push(...convo);
    const li = addMsg('assistant', '');
    const out = li.querySelector('.text'), meta = li.querySelector('.meta');
    meta.textContent = 'waiting for the first token…';
    const ctl = new AbortController();
    chatAbort = ctl;
    $('chat-send').disabled = true; $('chat-stop').disabled = false;
    const t0 = performance.now();
    let tFirst = 0, tLast = 0, chunks = 0, usage = null, finish = '', answer = '', stopped = false, failed = '';
    const temperature = Number($('chat-temp').value), maxTokens = parseInt($('chat-max').value, 10);
    const onEvent = (block) => {
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      if (!data || data === '[DONE]') return;
      let obj;
      try { obj = JSON.parse(data); } catch { return; }
      if (obj.error) throw new ApiError(500, obj.error.message || String(obj.error), obj.error.code || obj.code);
      if (obj.usage) usage = obj.usage;
      let piece;
      if (typeof obj.delta === 'string') { // ARES: {delta}, then a last event with finish_reason
        piece = obj.delta;
        if (obj.finish_reason) finish = obj.finish_reason;
      }
      else {
        const c = obj.choices && obj.choices[0];
        if (!c) { if (obj.finish_reason) finish = obj.finish_reason; return; }
        if (c.finish_reason) finish = c.finish_reason;
        piece = c.delta && c.delta.content;
      }
      if (piece) {
        const now = performance.now();
        if (!tFirst) tFirst = now;
        tLast = now; chunks++;
        answer += piece;
        const log = $('chat-log'), follow = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
        out.textContent = answer;
        if (follow) log.scrollTop = log.scrollHeight;
        meta.textContent = `${chunks} tokens…`;
      }
    };
    try {
      const res = viaARES()
        ? await api('/api/chat/stream', { method: 'POST', raw: true, signal: ctl.signal, body: { messages, ...(model ? { model } : {}), ...(Number.isFinite(maxTokens) ? { max_tokens: maxTokens } : {}) } })
        : await api('/v1/chat/completions', {
          method: 'POST', raw: true, signal: ctl.signal,
          body: { model, messages, stream: true, stream_options: { include_usage: true }, temperature: Number.isFinite(temperature) ? temperature : 1, max_tokens: Number.isFinite(maxTokens) ? maxTokens : 128 },
        });
      const reader = res.body.getReader(), dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true }).replace(/\r\n/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) { onEvent(buf.slice(0, i)); buf = buf.slice(i + 2); }
      }
      if (buf.trim()) onEvent(buf);
    } catch (e) {
      if (e.name === 'AbortError') stopped = true;
      else if (e instanceof NodeDown) { failed = e.message; nodeDown(e.message); }
      else if (e instanceof ApiError && e.status === 401) { failed = e.message; needSignIn(e.message, e.code); }
      else failed = e.message || String(e);
    } finally {
      if (chatAbort === ctl) chatAbort = null;
      $('chat-send').disabled = !models.length && !viaARES(); $('chat-stop').disabled = true;
    }
    const tokens = usage ? usage.completion_tokens : chunks;
    const parts = [];
    if (stopped) parts.push('stopped');
    if (failed) { li.classList.add('error'); if (!answer) out.textContent = failed; else parts.push('error: ' + failed); }
    parts.push(`${tokens} tokens`);
    if (tFirst) parts.push(`TTFT ${num(tFirst - t0, 0)} ms`);
    if (tokens > 1 && tLast > tFirst) parts.push(`${num((tokens - 1) / ((tLast - tFirst) / 1000))} tok/s`);
    if (finish) parts.push('finish: ' + finish);
    meta.textContent = parts.join(' · ');
    li.dataset.state = failed ? 'error' : stopped ? 'stopped' : 'done';
    if (answer) convo.push({ role: 'assistant', content: answer });
  });

  // ---- node
  let lastTokens = null;
  async function loadNode() {
    const [health, status, list, energy] = await Promise.all([
      api('/health', { accept: [503] }), api('/v1/status'), api('/v1/models'), api('/v1/energy').catch(() => null)]);
    let rate = '–';
    if (energy) {
      const now = performance.now(), tok = energy.total_tokens_generated;
      if (lastTokens && now > lastTokens.t) rate = num(Math.max(0, tok - lastTokens.tok) / ((now - lastTokens.t) / 1000)) + ' tok/s';
      lastTokens = { t: now, tok };
    }
    const c = status.consent;
    $('node-cards').replaceChildren(
      stat('Health', health.status, health.node && health.node.status !== 'healthy' ? 'node ' + health.node.status : ''),
      stat('Uptime', dur(health.node && health.node.uptime_seconds), 'API ' + dur(health.uptime_seconds)),
      stat('Version', health.version || status.version, status.backend),
      stat('Slots', `${status.active_slots} / ${status.total_slots}`, 'active / total'),
      stat('Queue', `${status.queued} / ${status.queue_size}`, 'waiting / capacity'),
      stat('Live', rate, 'tokens of finished requests, last interval'),
      stat('Threads', `${status.owner_threads || '–'} owner`, `${status.threads || '–'} remote, duty ${num(status.duty_cycle, 2)}`),
      stat('Remote work', c ? (c.accepting ? 'accepted' : 'refused') : '–', c && c.reason ? c.reason.message : ''),
      stat('Node ID', health.node && health.node.node_id ? health.node.node_id.slice(0, 16) + '…' : '–', health.node && health.node.uri));
    const ms = (list && list.data) || [];
    $('node-models').replaceChildren(table(['Model', 'Where', 'Architecture', 'Parameters', 'Quant', 'Context', 'Size', 'Weights'],
      ms.map((m) => {
        const a = m.aria || {};
        return [m.id, modelKind(m), a.architecture || '–', a.parameters ? params(a.parameters) : '–', (a.quant_types || []).join(', ') || '–',
          a.context_length ? num(a.context_length, 0) : '–', a.file_size ? bytes(a.file_size) : '–', a.synthetic ? 'synthetic (random)' : 'trained'];
      }), 'No model is served. Pull one on the Models page, or start the node with --model.', 'Models served'));
  }

  // ---- models store
  async function loadStore() {
    const d = await api('/v1/model-store');
    const list = (d && d.data) || [];
    $('store-list').replaceChildren(table(['Name', 'Size', 'Source', 'Verified', 'Served', ''],
      list.map((m) => [m.name, bytes(m.size_bytes), m.source || (m.via ? m.via : 'local file'), m.sha256 ? pill(m.verified, 'verified', 'unverified') : '–',
        pill(m.served, 'served', 'stored'),
        h('button', { type: 'button', class: 'danger', 'aria-label': 'Remove ' + m.name, text: 'Remove', onclick: () => removeModel(m.name) })]),
      'No model is stored in the data dir yet. Pull one above.', 'Stored models'));
  }
  async function removeModel(name) {
    if (!window.confirm(`Remove ${name} from this node? It stops being served.`)) return;
    try { await api('/v1/model-store/' + encodeURIComponent(name), { method: 'DELETE' }); await loadStore(); } catch (e) { fail(e); }
  }
  $('pull-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const bar = $('pull-progress'), label = $('pull-label'), msg = $('pull-msg'), btn = $('pull-btn');
    const body = { model: $('pull-ref').value.trim() };
    if ($('pull-name').value.trim()) body.name = $('pull-name').value.trim();
    if ($('pull-sha').value.trim()) body.sha256 = $('pull-sha').value.trim().toLowerCase();
    setMsg(msg, ''); btn.disabled = true; bar.value = 0; label.textContent = 'Starting…';
    let final = null;
    try {
      const res = await api('/v1/model-store/pull', { method: 'POST', body, raw: true });
      const reader = res.body.getReader(), dec = new TextDecoder();
      let buf = '';
      const line = (l) => {
        if (!l.trim()) return;
        const p = JSON.parse(l);
        if (p.status === 'success' || p.status === 'error') { final = p; }
        if (p.total > 0) bar.value = p.percent;
        if (p.status === 'success') bar.value = 100;
        const parts = [p.status];
        if (p.total > 0) parts.push(`${num(p.percent)}%`, `${bytes(p.completed)} of ${bytes(p.total)}`);
        if (p.bytes_per_sec) parts.push(bytes(p.bytes_per_sec) + '/s');
        if (p.eta_seconds) parts.push('ETA ' + dur(p.eta_seconds));
        label.textContent = parts.join(' · ');
      };
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n')) >= 0) { line(buf.slice(0, i)); buf = buf.slice(i + 1); }
      }
      line(buf);
      if (final && final.status === 'success') {
        label.textContent = `Pulled ${final.model.name} · 100%`;
        setMsg(msg, `${final.model.name}: ${bytes(final.model.size_bytes)}, ${final.model.verified ? 'sha256 verified' : 'unverified (no digest known)'}, ${final.model.served ? 'served now' : 'stored'}.`, 'ok');
      } else if (final && final.error) {
        label.textContent = 'Pull failed';
        setMsg(msg, final.error.message, 'error');
      } else {
        label.textContent = 'Pull interrupted';
        setMsg(msg, 'The pull stopped before it finished; pulling again resumes it.', 'error');
      }
    } catch (e) { label.textContent = 'Pull failed'; fail(e, msg); }
    btn.disabled = false;
    try { await loadStore(); } catch (e) { fail(e); }
  });
  $('import-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const msg = $('import-msg');
    setMsg(msg, 'Importing…');
    const body = { path: $('import-path').value.trim() };
    if ($('import-name').value.trim()) body.name = $('import-name').value.trim();
    try {
      const m = await api('/v1/model-store/import', { method: 'POST', body });
      setMsg(msg, `Imported ${m.name} (${bytes(m.size_bytes)})${m.served ? ', served now' : ''}.`, 'ok');
      await loadStore();
    } catch (e) { fail(e, msg); }
  });

  // ---- network
  function copyButton(text, label) {
    return h('button', { type: 'button', class: 'secondary', 'aria-label': label, text: 'Copy', onclick: async (ev) => {
      try { await navigator.clipboard.writeText(text); ev.target.textContent = 'Copied'; } catch { ev.target.textContent = 'Select and copy'; }
    } });
  }
  async function loadNetwork() {
    const n = await api('/v1/network');
    const addrs = n.addrs || [];
    $('net-self').replaceChildren(
      h('h2', { text: 'This node' }),
      h('p', {}, 'Peer ID ', h('code', { text: n.node_id || '–' })),
      h('p', {}, 'Peer protocol ', h('code', { text: n.ws_url || '–' }), ' · remote work ', pill(n.accepting, 'accepted', 'refused'), ` · load ${num(n.load, 2)}`),
      h('p', { class: 'muted small', text: 'Addresses to share: another node joins with aria node start --bootstrap ADDRESS.' }),
      addrs.length ? h('ul', { class: 'addrs' }, addrs.map((a, i) => h('li', {}, h('code', { text: a }), copyButton(a, 'Copy address ' + (i + 1)))))
        : h('p', { class: 'empty', text: 'No libp2p address: the peer network is off on this node.' }));
    $('net-peers').replaceChildren(table(['Peer ID', 'Models', 'Load', 'Accepting', 'Latency', 'Address'],
      (n.peers || []).map((p) => [h('code', { text: p.peer_id }), (p.models || []).join(', ') || '–', num(p.load, 2), pill(p.accepting), p.latency_ms ? num(p.latency_ms) + ' ms' : '–', h('code', { text: p.addr || p.ws_url || '–' })]),
      'No peers connected. Give another node one of the addresses above.', 'Peers'));
  }

  // ---- energy
  async function loadEnergy() {
    const e = await api('/v1/energy');
    const lt = e.lifetime, s = e.savings || {}, ref = e.references || {};
    const saving = (x, r) => (x ? `${num(x.reduction_percent, 2)}%` : '–');
    $('energy-cards').replaceChildren(
      stat('Session energy', energyMJ(e.total_energy_mj), `${num(e.total_inferences, 0)} inferences, ${dur(e.session_uptime_seconds)}`),
      stat('Session tokens', num(e.total_tokens_generated, 0), `${num(e.avg_energy_per_token_mj, 2)} mJ/token`),
      stat('Lifetime energy', lt ? energyMJ(lt.total_energy_mj) : '–', lt ? `since ${when(lt.since)}` : 'no ledger'),
      stat('Lifetime tokens', lt ? num(lt.total_tokens_generated, 0) : '–', lt ? `${num(lt.avg_energy_per_token_mj, 2)} mJ/token` : ''),
      stat('Saved vs GPU', saving(s.vs_gpu), `reference ${num(ref.gpu_mj_per_token, 0)} mJ/token`),
      stat('Saved vs cloud', saving(s.vs_cloud), `reference ${num(ref.cloud_mj_per_token, 0)} mJ/token`),
      stat('CO₂ saved', num(s.co2_saved_kg, 6) + ' kg', `${num(ref.co2_kg_per_kwh, 2)} kg/kWh`),
      stat('Cost saved', '$' + num(s.cost_saved_usd, 6), 'vs cloud API pricing'),
      stat('Method', e.method || '–', e.meter_note || (ref.watts_per_core ? `${ref.watts_per_core} W per core` : '')));
    // The chart reads the ledger: redrawn at most once a minute while the view stays open.
    if (performance.now() - chartAt > 60_000) await loadEnergyChart();
  }
  let chartAt = -Infinity;
  async function loadEnergyChart() {
    chartAt = performance.now();
    const range = Number($('energy-range').value), to = new Date(), from = new Date(to.getTime() - range * 1000);
    const step = Math.max(1, Math.ceil(range / 60));
    const d = await api(`/v1/energy/history?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}&step=${step}s`);
    const b = d.buckets || [], box = $('energy-chart');
    if (!d.totals || !d.totals.inferences) {
      box.replaceChildren(h('p', { class: 'empty', text: 'No inferences in this range yet.' }));
      $('energy-chart-note').textContent = '';
      return;
    }
    const W = 600, H = 200, pad = 28, max = Math.max(...b.map((x) => x.energy_mj)) || 1, bw = (W - pad) / b.length;
    const s = svg('svg', { viewBox: `0 0 ${W} ${H + 18}`, role: 'img', 'aria-labelledby': 'h-energy-chart', preserveAspectRatio: 'none' });
    const desc = svg('desc');
    desc.textContent = `${energyMJ(d.totals.energy_mj)} over ${d.totals.inferences} inferences; the highest step used ${energyMJ(max)}.`;
    s.append(desc, svg('line', { class: 'axis', x1: pad, y1: H, x2: W, y2: H }));
    b.forEach((x, i) => {
      if (!x.energy_mj) return;
      const hgt = Math.max(1, (x.energy_mj / max) * (H - 10));
      const r = svg('rect', { class: 'bar', x: pad + i * bw + 0.5, y: H - hgt, width: Math.max(1, bw - 1), height: hgt });
      const t = svg('title');
      t.textContent = `${when(x.start)}: ${energyMJ(x.energy_mj)}, ${x.tokens} tokens, ${num(x.mj_per_token, 2)} mJ/token`;
      r.append(t); s.append(r);
    });
    const lab = (x, y, text, anchor) => { const t = svg('text', { x, y, 'text-anchor': anchor || 'start' }); t.textContent = text; return t; };
    s.append(lab(0, 12, energyMJ(max)), lab(pad, H + 14, new Date(b[0].start).toLocaleString()), lab(W, H + 14, 'now', 'end'));
    box.replaceChildren(s);
    $('energy-chart-note').textContent = `${energyMJ(d.totals.energy_mj)} in ${d.totals.inferences} inferences, ${num(d.totals.mj_per_token, 2)} mJ/token; bars are ${dur(d.step_seconds)} steps (${d.method}).`;
  }
  $('energy-range').addEventListener('change', () => loadEnergyChart().catch((e) => fail(e)));

  // ---- consent and intentions
  const condHint = { semantic: 'words to match, e.g. Q4 presentation results', time: 'RFC 3339, e.g. 2026-12-24T09:00:00Z', condition: 'e.g. energy.total_tokens > 1000', session_start: '*' };
  function syncCond() {
    const t = $('int-type').value, c = $('int-cond');
    c.placeholder = condHint[t];
    if (t === 'session_start') { c.value = '*'; c.readOnly = true; } else { if (c.readOnly) c.value = ''; c.readOnly = false; }
  }
  $('int-type').addEventListener('change', syncCond);
  syncCond();
  async function loadConsent() {
    const st = await api('/v1/status');
    const c = st.consent, box = $('consent-state');
    if (!c) { box.replaceChildren(h('p', { class: 'empty', text: 'This server reports no consent contract.' })); }
    else {
      const k = c.contract;
      box.replaceChildren(
        h('h2', { text: 'Remote work' }),
        h('p', {}, pill(c.accepting, 'accepted now', 'refused now'), ' ', c.reason ? c.reason.message + ` (${c.reason.code})` : `${c.running_tasks} remote task(s) running`),
        table(['Setting', 'Value'], [
          ['CPU share for others', k.cpu_percent + '%'], ['RAM limit', k.max_ram_mb ? k.max_ram_mb + ' MiB' : 'none'],
          ['Bandwidth limit', k.max_bandwidth_mbps ? k.max_bandwidth_mbps + ' Mbit/s' : 'none'],
          ['Schedule', (k.schedule || 'always') + ' (' + (k.timezone || 'UTC') + ')'], ['Days', (k.days || []).join(', ') || 'every day'],
          ['Task types', (k.task_types || []).join(', ') || 'any'], ['Concurrent remote tasks', String(k.max_concurrent_tasks)],
          ['Logging of remote prompts', k.allow_logging ? 'allowed' : 'never']], '', 'Consent contract'));
    }
    await loadIntentions();
  }
  async function loadIntentions() {
    const q = new URLSearchParams();
    for (const id of ['f-status', 'f-trigger', 'f-sort', 'f-limit']) { const el = $(id); if (el.value) q.set(el.name, el.value); }
    const list = await api('/v1/intentions?' + q.toString()) || [];
    $('int-list').replaceChildren(table(['Content', 'Trigger', 'Status', 'Priority', 'Fires', 'Created', ''],
      list.map((it) => [h('td', { class: 'wrap', text: it.content }), h('td', { class: 'wrap' }, it.trigger_type + ': ', h('code', { text: it.trigger_condition })), it.status, num(it.priority, 2),
        `${it.fire_count}/${it.max_fires === -1 ? '∞' : it.max_fires}`, when(it.created_at),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', 'aria-label': 'Fire intention ' + it.id, text: 'Fire', onclick: () => intentionAction(it.id, 'fire') }),
          it.status !== 'cancelled' && it.status !== 'executed' ? h('button', { type: 'button', class: 'danger', 'aria-label': 'Cancel intention ' + it.id, text: 'Cancel', onclick: () => intentionAction(it.id, 'cancel') }) : null)]),
      'No intentions match these filters.', 'Intentions'));
  }
  async function intentionAction(id, what) {
    try {
      if (what === 'fire') await api(`/v1/intentions/${encodeURIComponent(id)}/fire`, { method: 'POST' });
      else await api(`/v1/intentions/${encodeURIComponent(id)}`, { method: 'DELETE' });
      setMsg($('int-msg'), what === 'fire' ? 'Fired: the next chat request carries it.' : 'Cancelled.', 'ok');
      await loadIntentions();
    } catch (e) { fail(e, $('int-msg')); }
  }
  $('int-filters').addEventListener('change', () => loadIntentions().catch((e) => fail(e)));
  $('int-filters').addEventListener('submit', (ev) => { ev.preventDefault(); loadIntentions().catch((e) => fail(e)); });
  $('int-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { content: $('int-content').value, trigger_type: $('int-type').value, trigger_condition: $('int-cond').value.trim(),
      priority: Number($('int-priority').value), max_fires: parseInt($('int-fires').value, 10) };
    try {
      const r = await api('/v1/intentions', { method: 'POST', body });
      setMsg($('int-msg'), `Created ${r.id} (${r.status}).`, 'ok');
      $('int-content').value = ''; syncCond();
      await loadIntentions();
    } catch (e) { fail(e, $('int-msg')); }
  });

  // ---- admin console
  let tenant = null;
  async function loadAdmin() {
    const body = $('admin-body');
    if (!auth.admin) {
      body.replaceChildren(h('p', { class: 'empty', text: 'The admin console needs the admin secret.' }),
        h('button', { type: 'button', text: 'Sign in as admin', onclick: () => { afterSignIn = 'admin'; location.hash = '#signin'; } }));
      return;
    }
    const [stats, tenants, alerts, audit] = await Promise.all([api('/api/admin/stats'), api('/api/admin/tenants'),
      api('/api/admin/alerts?limit=50'), api('/api/admin/audit-log?limit=50')]);
    const ts = tenants.tenants || [];
    if (tenant && !ts.some((t) => t.id === tenant)) tenant = null;
    const msg = h('p', { class: 'msg', role: 'status' });
    const name = h('input', { id: 'tenant-name', required: true, pattern: '[a-z0-9][a-z0-9\\-]*', placeholder: 'acme-corp' });
    const tier = h('select', { id: 'tenant-tier' }, ['free', 'dev', 'pro', 'enterprise'].map((t) => h('option', { text: t })));
    const create = h('form', { class: 'card', onsubmit: async (ev) => {
      ev.preventDefault();
      try { const t = await api('/api/admin/tenants', { method: 'POST', body: { name: name.value.trim(), tier: tier.value } }); tenant = t.id; await loadAdmin(); } catch (e) { fail(e, msg); }
    } }, h('h2', { text: 'New tenant' }), h('div', { class: 'row' }, h('div', {}, h('label', { for: 'tenant-name', text: 'Name' }), name), h('div', {}, h('label', { for: 'tenant-tier', text: 'Tier' }), tier)),
    h('button', { type: 'submit', text: 'Create tenant' }), msg);
    body.replaceChildren(
      h('div', { class: 'cards' }, stat('Tenants', num(stats.total_tenants, 0)), stat('Agents', num(stats.total_agents, 0)),
        stat('Runs today', num(stats.total_runs_today, 0)), stat('Tokens today', num(stats.total_tokens_today, 0)), stat('Active alerts', num(stats.active_alerts, 0))),
      h('h2', { text: 'Tenants' }),
      table(['Name', 'Tier', 'Agents', 'Created', ''], ts.map((t) => [t.name, t.tier, num(t.agent_count, 0), when(t.created_at),
        h('button', { type: 'button', class: 'secondary', 'aria-label': 'Manage tenant ' + t.name, text: tenant === t.id ? 'Selected' : 'Manage', onclick: () => { tenant = t.id; loadAdmin().catch((e) => fail(e)); } })]),
      'No tenants yet. Create one below.', 'Tenants'),
      create,
      h('div', { id: 'tenant-panel' }),
      h('h2', { text: 'Alerts' }),
      table(['Severity', 'Message', 'Tenant', 'Raised', ''], (alerts.alerts || []).map((a) => [a.severity, h('td', { class: 'wrap', text: a.message }), a.tenant_id || '–', when(a.created_at),
        a.resolved ? 'resolved' : h('button', { type: 'button', class: 'secondary', 'aria-label': 'Resolve alert ' + a.id, text: 'Resolve', onclick: async () => {
          try { await api(`/api/admin/alerts/${encodeURIComponent(a.id)}/resolve`, { method: 'POST' }); await loadAdmin(); } catch (e) { fail(e); }
        } })]), 'No alerts.', 'Alerts'),
      h('h2', { text: 'Audit log' }),
      table(['When', 'Action', 'Actor', 'Details'], (audit.entries || []).map((x) => [when(x.timestamp), x.action, x.actor, h('td', { class: 'wrap mono', text: JSON.stringify(x.details || {}) })]), 'The audit log is empty.', 'Audit log'));
    if (tenant) await loadTenant(tenant);
  }
  async function loadTenant(id) {
    const panel = $('tenant-panel'), enc = encodeURIComponent(id);
    const [t, keys, usage, daily] = await Promise.all([api(`/api/admin/tenants/${enc}`), api(`/api/admin/tenants/${enc}/api-keys`),
      api(`/api/admin/tenants/${enc}/usage`), api(`/api/admin/tenants/${enc}/usage/daily?days=30`)]);
    let agents = null;
    try { agents = (await api(`/api/admin/tenants/${enc}/agents`)).agents || []; } catch (e) { if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405 && e.status !== 501)) throw e; }
    const msg = h('p', { class: 'msg', role: 'status' }), secretBox = h('div');
    const keyName = h('input', { id: 'key-name', required: true, placeholder: 'production' });
    const tierSel = h('select', { id: 'tier-change' }, ['free', 'dev', 'pro', 'enterprise'].map((x) => h('option', { text: x, selected: x === t.tier })));
    tierSel.addEventListener('change', async () => {
      try { await api(`/api/admin/tenants/${enc}/quota`, { method: 'PUT', body: { tier: tierSel.value } }); setMsg(msg, 'Tier changed to ' + tierSel.value + '.', 'ok'); } catch (e) { fail(e, msg); }
    });
    const createKey = h('form', { onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const k = await api(`/api/admin/tenants/${enc}/api-keys`, { method: 'POST', body: { name: keyName.value.trim() } });
        keyName.value = '';
        await loadTenant(id);
        $('tenant-secret').replaceChildren(h('div', { class: 'secret', role: 'status' },
          h('strong', { text: 'New key ' + k.name + ': copy it now, it is not shown again.' }), h('code', { id: 'new-key-secret', text: k.raw_key || k.secret }),
          copyButton(k.raw_key || k.secret, 'Copy the new key'), ' ',
          h('button', { type: 'button', class: 'secondary', text: 'Use this key in this tab', onclick: () => { auth.key = k.raw_key || k.secret; saveAuth(); } })));
      } catch (e) { fail(e, msg); }
    } }, h('label', { for: 'key-name', text: 'New key name' }), keyName, h('button', { type: 'submit', text: 'Create key' }));
    const days = (daily.daily || []).slice().reverse();
    panel.replaceChildren(h('div', { class: 'card' },
      h('h2', { text: 'Tenant ' + t.name }),
      h('div', { class: 'cards' }, stat('Runs this month', num(usage.total_runs, 0), usage.quota_runs == null ? 'unlimited' : 'of ' + num(usage.quota_runs, 0)),
        stat('Tokens this month', num(usage.total_tokens, 0), usage.quota_tokens == null ? 'unlimited' : 'of ' + num(usage.quota_tokens, 0)),
        stat('API keys', num(t.api_key_count, 0)), stat('Created', when(t.created_at))),
      h('label', { for: 'tier-change', text: 'Tier' }), tierSel, msg,
      h('h3', { text: 'Usage, last 30 days (tokens per day)' }), usageChart(days),
      h('h3', { text: 'API keys' }), h('div', { id: 'tenant-secret' }), secretBox,
      table(['Name', 'Prefix', 'Created', 'Last used', 'State', ''], (keys.keys || []).map((k) => [k.name, h('code', { text: k.prefix }), when(k.created_at), when(k.last_used), k.revoked ? 'revoked' : 'active',
        k.revoked ? '' : h('button', { type: 'button', class: 'danger', 'aria-label': 'Revoke key ' + k.name, text: 'Revoke', onclick: async () => {
          if (!window.confirm(`Revoke key ${k.name}?`)) return;
          try { await api(`/api/admin/tenants/${enc}/api-keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' }); await loadTenant(id); } catch (e) { fail(e, msg); }
        } })]), 'No API keys yet.', 'API keys'),
      createKey,
      h('h3', { text: 'Agents' }),
      agents === null ? h('p', { class: 'empty', text: 'Agents are not available on this node yet.' })
        : table(['Name', 'Type', 'Model', 'Runs', 'Success', ''], agents.map((a) => [a.name, a.agent_type || '–', a.model || (a.config && a.config.model) || '–', num(a.total_runs, 0),
          a.success_rate == null ? '–' : num(a.success_rate * 100) + '%',
          h('button', { type: 'button', class: 'secondary', 'aria-label': 'Runs of agent ' + a.name, text: 'Runs', onclick: () => loadRuns(enc, a.name).catch((e) => fail(e, msg)) })]), 'This tenant has no agents.', 'Agents'),
      h('div', { id: 'agent-runs' })));
  }
  async function loadRuns(enc, name) {
    const d = await api(`/api/admin/tenants/${enc}/agents/${encodeURIComponent(name)}/runs?limit=50`);
    $('agent-runs').replaceChildren(h('h3', { text: 'Runs of ' + name }),
      table(['Started', 'Status', 'Duration', 'Tokens', 'Error'], (d.runs || []).map((r) => [when(r.started_at), r.status, r.duration_ms != null ? num(r.duration_ms, 0) + ' ms' : '–', num(r.tokens_used, 0),
        h('td', { class: 'wrap', text: r.error || '' })]), 'No runs yet.', 'Agent runs'));
  }
  function usageChart(days) {
    if (!days.length || !days.some((d) => d.tokens || d.runs)) return h('p', { class: 'empty', text: 'No usage in the last 30 days.' });
    const W = 600, H = 120, max = Math.max(...days.map((d) => d.tokens)) || 1, bw = W / days.length;
    const s = svg('svg', { viewBox: `0 0 ${W} ${H + 16}`, role: 'img', 'aria-label': `Tokens per day; the highest day used ${max} tokens`, preserveAspectRatio: 'none' });
    days.forEach((d, i) => {
      const hgt = d.tokens ? Math.max(1, (d.tokens / max) * (H - 4)) : 0;
      const r = svg('rect', { class: 'bar', x: i * bw + 0.5, y: H - hgt, width: Math.max(1, bw - 1), height: hgt });
      const t = svg('title'); t.textContent = `${d.date}: ${d.runs} runs, ${d.tokens} tokens`; r.append(t); s.append(r);
    });
    const t = svg('text', { x: 0, y: H + 14 }); t.textContent = days[0].date; s.append(t);
    return h('div', { class: 'chart' }, s);
  }

  showWho();
  route();
})();
