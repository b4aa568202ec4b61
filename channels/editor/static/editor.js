// The guide form: built from the schema the server sends (/api/editor/spec), validated inline by the server
// with the same validators as `guide kb validate`, previewed exactly as residents see it.
const page = document.getElementById('editor');
const SID = page.dataset.service;
let SPEC = null, CHOICES = null, FIXED = [], FIXED_WHY = {}, doc = null, openState = page.dataset.state || '';
let dirty = false;

const CHOICE_OF = {lead_department: 'departments', cooperating_departments: 'departments', department: 'departments',
  hall: 'halls', catalogue: 'materials'};
const SUGGEST_OF = {after: 'items', used_by: 'items', 'single_items.scenarios': 'scenarios', 'materials.scenarios': 'scenarios',
  'deferral.materials': 'material_names'};

function getAt(obj, path) { return path.reduce((o, k) => (o == null ? undefined : o[k]), obj); }
function setAt(obj, path, value) { const last = path[path.length - 1]; getAt(obj, path.slice(0, -1))[last] = value; }

function defaultFor(spec) {
  if (spec.list) return [];
  if (spec.kind === 'object') {
    if (spec.optional && !spec.required) return null;
    return objectDefault(spec.fields);
  }
  if ('default' in spec) return spec.default;
  if (spec.kind === 'bool') return false;
  if (spec.kind === 'enum') return spec.options[0];
  return '';
}
function objectDefault(fields) { const o = {}; for (const f of fields) o[f.name] = defaultFor({...f, optional: f.optional}); return o; }
function itemDefault(spec) { return spec.kind === 'object' ? objectDefault(spec.fields) : (spec.kind === 'enum' ? spec.options[0] : ''); }

function refreshSuggestions() {
  const lists = {
    items: (doc.single_items || []).map(i => i.name),
    scenarios: (doc.scenarios || []).map(s => s.id),
    material_names: (doc.materials || []).map(m => m.name),
  };
  for (const [id, values] of Object.entries(lists)) {
    let dl = document.getElementById('dl-' + id);
    if (!dl) { dl = el('datalist', {id: 'dl-' + id}); document.body.append(dl); }
    dl.innerHTML = '';
    for (const v of values) dl.append(el('option', {value: v}));
  }
}

function control(spec, path, value, parent) {
  const dotted = path.join('.');
  const key = parent ? parent + '.' + spec.name : spec.name;
  const choice = CHOICE_OF[spec.name];
  const fixed = path.length === 1 && FIXED.includes(spec.name);
  const onInput = (v) => { setAt(doc, path, v); changed(spec.name); };
  if (spec.kind === 'enum' || choice) {
    const options = choice ? CHOICES[choice] : spec.options.map(o => [o, o]);
    const sel = el('select', {'data-path': dotted, 'aria-label': spec.label, disabled: fixed, onchange: e => onInput(e.target.value)});
    if (!options.some(([k]) => k === value)) sel.append(el('option', {value: value || ''}, value ? `${value}（不在可选范围内）` : '请选择'));
    for (const [k, label] of options) sel.append(el('option', {value: k, selected: k === value}, choice === 'materials' ? `${label}（${k}）` : label));
    return sel;
  }
  if (spec.kind === 'bool') {
    return el('input', {type: 'checkbox', 'data-path': dotted, 'aria-label': spec.label, checked: !!value, onchange: e => onInput(e.target.checked)});
  }
  if (spec.kind === 'long') {
    const ta = el('textarea', {'data-path': dotted, 'aria-label': spec.label, rows: 2, oninput: e => onInput(e.target.value)});
    ta.value = value == null ? '' : value;
    return ta;
  }
  const input = el('input', {type: 'text', 'data-path': dotted, 'aria-label': spec.label, readonly: fixed,
    inputmode: spec.kind === 'number' ? 'decimal' : null, oninput: e => onInput(e.target.value)});
  const suggest = SUGGEST_OF[key] || SUGGEST_OF[spec.name];
  if (suggest) input.setAttribute('list', 'dl-' + suggest);
  input.value = value == null ? '' : value;
  return input;
}

function field(spec, path, parent) {
  const value = getAt(doc, path);
  const dotted = path.join('.');
  const key = parent ? parent + '.' + spec.name : spec.name;
  if (spec.list) return listField(spec, path, parent);
  if (spec.kind === 'object') {
    const fs = el('fieldset', {'data-path': dotted}, el('legend', {}, spec.label));
    if (spec.optional && !spec.required) {
      const toggle = el('input', {type: 'checkbox', checked: value != null, 'aria-label': '填写' + spec.label, onchange: e => {
        setAt(doc, path, e.target.checked ? objectDefault(spec.fields) : null); rerender(fs, spec, path, parent); changed(spec.name); }});
      fs.append(el('label', {}, toggle, ' 填写' + spec.label));
      if (value == null) return fs;
    }
    for (const f of spec.fields) fs.append(field(f, [...path, f.name], key));
    return fs;
  }
  const wrap = el('div', {class: 'field' + (spec.kind === 'bool' ? ' bool' : '')});
  const c = control(spec, path, value, parent);
  const id = 'f-' + dotted.replace(/\./g, '-');
  c.id = id;
  wrap.append(el('label', {for: id}, spec.label + (spec.required ? ' *' : '')), c);
  if (path.length === 1 && FIXED.includes(spec.name)) {
    // fixed by the catalogue: read-only, and the editor is told why and what to do instead
    const why = el('p', {class: 'hint fixed-why', id: id + '-why'}, FIXED_WHY[spec.name] || '此项不能在此修改。');
    c.setAttribute('aria-describedby', why.id);
    wrap.classList.add('fixed');
    wrap.append(why);
  }
  return wrap;
}

function rerender(node, spec, path, parent) { const fresh = field(spec, path, parent); node.replaceWith(fresh); refreshSuggestions(); }

function listField(spec, path, parent) {
  const items = getAt(doc, path) || [];
  if (getAt(doc, path) == null) setAt(doc, path, items);
  const dotted = path.join('.');
  const key = parent ? parent + '.' + spec.name : spec.name;
  const fs = el('fieldset', {'data-path': dotted, class: 'list'}, el('legend', {}, `${spec.label}（${items.length}）`));
  const redraw = () => { rerender(fs, spec, path, parent); changed(spec.name); };
  items.forEach((item, i) => {
    const ipath = [...path, i];
    const tools = el('span', {},
      el('button', {type: 'button', title: '上移', 'aria-label': `上移第${i + 1}项`, disabled: i === 0, onclick: () => { items.splice(i - 1, 0, items.splice(i, 1)[0]); redraw(); }}, '↑'),
      el('button', {type: 'button', title: '下移', 'aria-label': `下移第${i + 1}项`, disabled: i === items.length - 1, onclick: () => { items.splice(i + 1, 0, items.splice(i, 1)[0]); redraw(); }}, '↓'),
      el('button', {type: 'button', class: 'danger', 'aria-label': `删除${spec.label}第${i + 1}项`, onclick: () => { items.splice(i, 1); redraw(); }}, '删除'));
    if (spec.kind === 'object') {
      const box = el('fieldset', {'data-path': ipath.join('.')}, el('div', {class: 'item-head'}, el('span', {}, `第${i + 1}项`), tools));
      for (const f of spec.fields) box.append(field(f, [...ipath, f.name], key));
      fs.append(box);
    } else {
      const c = control(spec, ipath, item, parent);
      fs.append(el('div', {class: 'row'}, c, tools));
    }
  });
  fs.append(el('button', {type: 'button', class: 'add', 'data-add': dotted, onclick: () => { items.push(itemDefault(spec)); redraw(); }}, '＋ 添加' + spec.label));
  return fs;
}

// numbers travel as numbers when they are numbers; anything else goes as typed so the validator names the problem
function serialize(value, spec) {
  if (spec.list) return (value || []).map(v => serialize(v, {...spec, list: false}));
  if (spec.kind === 'object') {
    if (value == null) return null;
    const out = {};
    for (const f of spec.fields) out[f.name] = serialize(value[f.name], f);
    return out;
  }
  if (spec.kind === 'number') {
    const s = String(value == null ? '' : value).trim();
    if (s === '') return spec.required ? '' : (spec.optional ? null : ('default' in spec ? spec.default : ''));
    return /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : s;
  }
  return value;
}
function documentNow() { return serialize(doc, {kind: 'object', fields: SPEC, required: true}); }

function showProblems(problems) {
  document.querySelectorAll('.err-msg,.warn-msg').forEach(n => n.remove());
  document.querySelectorAll('.invalid').forEach(n => n.classList.remove('invalid'));
  const box = document.getElementById('problems');
  box.innerHTML = '';
  const errors = problems.filter(p => p.severity === 'error');
  if (problems.length) {
    box.append(el('p', {}, errors.length ? `有 ${errors.length} 处错误${problems.length > errors.length ? `、${problems.length - errors.length} 处提醒` : ''}：` : '有提醒：'));
    box.append(problemList(problems));
  }
  for (const p of problems) {
    const parts = p.path ? p.path.split('.') : [];
    let target = null;
    while (parts.length && !target) { target = document.querySelector(`[data-path="${parts.join('.')}"]`); if (!target) parts.pop(); }
    const msg = el('div', {class: p.severity === 'error' ? 'err-msg' : 'warn-msg', role: 'alert', 'data-for': p.path}, `${p.label}：${p.message}`);
    if (!target) { document.getElementById('form').prepend(msg); continue; }
    if (p.severity === 'error') target.classList.add('invalid');
    if (target.tagName === 'FIELDSET') target.querySelector('legend').after(msg); else target.after(msg);
  }
  document.getElementById('status-line').textContent = errors.length ? `校验：${errors.length} 处错误` : '校验通过';
  return errors.length === 0;
}

async function validateNow() {
  try {
    const data = await api('POST', `/api/editor/services/${SID}/validate`, {document: documentNow()});
    return showProblems(data.problems);
  } catch (e) { flash(e.message, 'error'); return false; }
}
const validateSoon = debounce(validateNow, 500);

function changed(name) {
  dirty = true;
  if (['single_items', 'scenarios', 'materials'].includes(name)) refreshSuggestions();
  validateSoon();
}

function render() {
  const form = document.getElementById('form');
  form.innerHTML = '';
  refreshSuggestions();
  for (const f of SPEC) form.append(field(f, [f.name], ''));
}

async function preview() {
  try {
    const data = await api('POST', `/api/editor/services/${SID}/preview`, {document: documentNow()});
    const w = document.getElementById('wechat');
    w.innerHTML = '';
    for (const block of data.wechat) {
      w.append(el('h3', {}, block.title));
      for (const m of block.messages) w.append(el('div', {class: 'bubble'}, m));
    }
    document.getElementById('page-frame').srcdoc = data.page;
    document.getElementById('preview').hidden = false;
  } catch (e) { flash(e.message, 'error'); if (e.data && e.data.problems) showProblems(e.data.problems); }
}

async function save() {
  const reason = document.getElementById('reason').value.trim();
  try {
    const data = await api('PUT', `/api/editor/services/${SID}/draft`, {document: documentNow(), reason});
    dirty = false;
    showProblems(data.problems);
    flash(data.message, 'ok');
    page.dataset.version = data.version;
    openState = 'draft';
    updateButtons();
  } catch (e) {
    flash(e.message, 'error');
    if (e.data && e.data.problems) showProblems(e.data.problems);
  }
}

async function submitReview() {
  if (dirty) { flash('有未保存的修改，请先保存草稿', 'error'); return; }
  const reason = document.getElementById('reason').value.trim();
  await act('POST', `/api/editor/services/${SID}/versions/${page.dataset.version}/submit`, {reason}, '已提交审核', () => {
    openState = 'in_review'; updateButtons();
  });
}

function updateButtons() {
  const inReview = openState === 'in_review';
  document.getElementById('save').disabled = inReview;
  document.getElementById('submit').disabled = openState !== 'draft';
  const banner = document.getElementById('state-banner');
  if (page.dataset.version && openState) {
    const names = {draft: '草稿', in_review: '待审核'};
    banner.innerHTML = '';
    banner.append(`当前有未发布的修改：第 ${page.dataset.version} 版（${names[openState]}）。`,
      el('a', {href: `/editor/services/${SID}/versions/${page.dataset.version}`}, inReview ? '查看审核' : '查看与发布版的差异'));
  }
}

async function init() {
  const [spec, svc] = await Promise.all([api('GET', '/api/editor/spec'), api('GET', `/api/editor/services/${SID}`)]);
  SPEC = spec.fields; CHOICES = spec.choices; FIXED = spec.fixed; FIXED_WHY = spec.fixed_why || {};
  doc = JSON.parse(JSON.stringify(svc.open ? svc.open.document : svc.published));
  if (svc.open) { page.dataset.version = svc.open.version; openState = svc.open.state; document.getElementById('reason').value = svc.open.reason || ''; }
  render();
  updateButtons();
  page.dataset.ready = '1';
}

document.getElementById('validate').addEventListener('click', validateNow);
document.getElementById('preview-btn').addEventListener('click', preview);
document.getElementById('save').addEventListener('click', save);
document.getElementById('submit').addEventListener('click', submitReview);
window.addEventListener('beforeunload', e => { if (dirty) { e.preventDefault(); e.returnValue = ''; } });
init();
