// Shared helpers: every state-changing request carries the session's CSRF token.
const CSRF = document.querySelector('meta[name=csrf-token]').content;

async function api(method, url, body, isForm) {
  const opts = {method, headers: {'X-CSRF-Token': CSRF, 'Accept': 'application/json'}, credentials: 'same-origin'};
  if (body !== undefined) {
    if (isForm) { opts.body = body; } else { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
  }
  const r = await fetch(url, opts);
  let data = {};
  try { data = await r.json(); } catch (e) { data = {error: `服务器返回了无法识别的内容（HTTP ${r.status}）`}; }
  if (!r.ok) {
    const err = new Error(data.error || data.detail || `请求失败（HTTP ${r.status}）`);
    err.data = data; err.status = r.status;
    throw err;
  }
  return data;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function debounce(fn, ms) { let t; return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); }; }

function flash(message, kind) {
  const box = document.getElementById('flash');
  box.className = kind || 'ok';
  box.textContent = message;
  box.scrollIntoView({block: 'nearest'});
}

function problemList(problems) {
  const ul = el('ul', {class: 'problems'});
  for (const p of problems || []) ul.append(el('li', {class: p.severity || 'error'}, p.text || `${p.label}：${p.message}`));
  return ul;
}

async function act(method, url, body, okMessage, then) {
  try {
    const data = await api(method, url, body);
    flash(data.message || okMessage, 'ok');
    if (then) then(data);
    return data;
  } catch (e) {
    flash(e.message, 'error');
    return null;
  }
}
