// The download center page: an end user's exports, live. Plain DOM and
// fetch; the session token comes in the URL fragment (#token=…), which no
// server sees, and is kept in this tab's session storage only.
'use strict';

const STRINGS = {
  en: {
    title: 'Download Center', skip: 'Skip to your exports', language: 'Language',
    signinTitle: 'Not signed in', signinText: 'Open this page from your application: its link carries your session.',
    expiredText: 'Your session has expired. Open the page again from your application.',
    newExport: 'New export', name: 'Name', type: 'Type', format: 'Format', params: 'Parameters', columns: 'Columns',
    columnsHint: 'Tick the columns to export; move them to set their order.', createButton: 'Create export',
    noParams: 'This type takes no parameters.', required: 'required',
    moveUp: 'Move {c} up', moveDown: 'Move {c} down', up: 'Up', down: 'Down',
    yourExports: 'Your exports', empty: 'No exports yet.', loadMore: 'Load more',
    signedInAs: 'Signed in as {u}', until: 'until {t}',
    st_NOT_EXECUTED: 'Waiting', st_EXECUTING: 'Running', st_SUCCESS: 'Ready', st_FAILED: 'Failed', st_CANCELLED: 'Cancelled',
    cancelRequested: 'Stopping…',
    progressOf: 'Progress of {n}', rowsOf: '{w} of {t} rows ({p}%)', rowsSoFar: '{w} rows so far',
    eta: 'about {d} left', etaSoon: 'almost done', sec: '{n} s', min: '{n} min', hour: '{n} h {m} min',
    rows: '{n} rows', created: 'Created {t}', finished: 'Finished {t}', retryingAt: 'Retrying at {t}',
    attempts: 'attempt {n}', fileExpired: 'The file was deleted after its retention time; Retry makes it again.', download: 'Download', cancel: 'Cancel', retry: 'Retry',
    downloadOf: 'Download {n}', cancelOf: 'Cancel {n}', retryOf: 'Retry {n}',
    created_ok: 'Export “{n}” created.', cancelled_ok: '“{n}”: cancel requested.', retried_ok: '“{n}” will run again.',
    live: 'Live updates on.', reconnecting: 'Live updates interrupted; reconnecting…',
    noColumns: 'Choose at least one column.', failed: 'Something went wrong: {e}',
    kind_int: 'whole number', kind_decimal: 'decimal number', kind_time: 'date and time', kind_string: 'text', kind_bool: 'yes or no',
  },
  'zh-CN': {
    title: '下载中心', skip: '跳到我的导出', language: '语言',
    signinTitle: '未登录', signinText: '请从您的应用中打开此页面：应用给出的链接带有您的会话。',
    expiredText: '会话已过期。请从您的应用中重新打开此页面。',
    newExport: '新建导出', name: '名称', type: '类型', format: '格式', params: '参数', columns: '列',
    columnsHint: '勾选要导出的列，并移动它们来调整顺序。', createButton: '创建导出',
    noParams: '此类型没有参数。', required: '必填',
    moveUp: '上移 {c}', moveDown: '下移 {c}', up: '上移', down: '下移',
    yourExports: '我的导出', empty: '还没有导出。', loadMore: '加载更多',
    signedInAs: '当前用户：{u}', until: '有效期至 {t}',
    st_NOT_EXECUTED: '等待中', st_EXECUTING: '导出中', st_SUCCESS: '已完成', st_FAILED: '失败', st_CANCELLED: '已取消',
    cancelRequested: '正在停止…',
    progressOf: '{n} 的进度', rowsOf: '已写 {w} / {t} 行（{p}%）', rowsSoFar: '已写 {w} 行',
    eta: '预计还需 {d}', etaSoon: '即将完成', sec: '{n} 秒', min: '{n} 分钟', hour: '{n} 小时 {m} 分钟',
    rows: '{n} 行', created: '创建于 {t}', finished: '完成于 {t}', retryingAt: '将于 {t} 重试',
    attempts: '第 {n} 次尝试', fileExpired: '文件已超过保留期限被删除；点击“重试”可重新生成。', download: '下载', cancel: '取消', retry: '重试',
    downloadOf: '下载 {n}', cancelOf: '取消 {n}', retryOf: '重试 {n}',
    created_ok: '已创建导出“{n}”。', cancelled_ok: '“{n}”：已请求取消。', retried_ok: '“{n}”将重新运行。',
    live: '实时更新已开启。', reconnecting: '实时更新中断，正在重新连接…',
    noColumns: '请至少选择一列。', failed: '出错了：{e}',
    kind_int: '整数', kind_decimal: '小数', kind_time: '日期和时间', kind_string: '文本', kind_bool: '是或否',
  },
};

const $ = (id) => document.getElementById(id);
const state = { token: '', user: '', expires: 0, tasks: new Map(), cursor: null, types: [], live: false };
let lang = pickLang();

function pickLang() {
  const stored = localStorage.getItem('dc.lang');
  if (stored && STRINGS[stored]) return stored;
  // The server picked from Accept-Language; the browser's list is the same.
  const served = document.documentElement.lang || '';
  if (served.toLowerCase().startsWith('zh')) return 'zh-CN';
  if (served) return 'en';
  return (navigator.languages || [navigator.language || 'en']).some((l) => l.toLowerCase().startsWith('zh')) ? 'zh-CN' : 'en';
}

function t(key, vars) {
  let s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
  for (const [k, v] of Object.entries(vars || {})) s = s.split('{' + k + '}').join(String(v));
  return s;
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
}

// ---------------------------------------------------------------- session

function readToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('dc.token', decodeURIComponent(m[1]));
    // The token leaves the address bar (and the history) at once.
    history.replaceState(null, '', location.pathname + location.search);
  }
  state.token = sessionStorage.getItem('dc.token') || '';
  try {
    const payload = state.token.slice(4).split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
    const parts = new TextDecoder().decode(Uint8Array.from(atob(payload), (c) => c.charCodeAt(0))).split('\n');
    state.user = parts[1] || '';
    state.expires = Number(parts[2]) || 0;
  } catch (e) {
    state.user = '';
  }
}

async function api(path, opts) {
  const o = Object.assign({}, opts || {});
  o.headers = Object.assign({ Authorization: 'Bearer ' + state.token }, o.headers || {});
  const res = await fetch(path, o);
  if (res.status === 401) {
    signedOut(true);
    throw new Error('401');
  }
  return res;
}

async function problemOf(res) {
  try {
    const p = await res.json();
    return p;
  } catch (e) {
    return { detail: res.status + ' ' + res.statusText };
  }
}

function signedOut(expired) {
  state.token = '';
  sessionStorage.removeItem('dc.token');
  $('signin').hidden = false;
  $('signin-text').textContent = expired ? t('expiredText') : t('signinText');
  $('signin-text').dataset.key = expired ? 'expiredText' : 'signinText';
  $('list').hidden = true;
  $('create').hidden = true;
  $('who').textContent = '';
}

// ---------------------------------------------------------------- formatting

const fmtTime = (iso) => new Date(iso).toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' });
const fmtNum = (n) => new Intl.NumberFormat(lang).format(n);

function fmtBytes(n) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return new Intl.NumberFormat(lang, { maximumFractionDigits: i ? 1 : 0 }).format(n) + ' ' + units[i];
}

function fmtDuration(secs) {
  if (secs < 60) return t('sec', { n: Math.max(1, Math.round(secs)) });
  if (secs < 3600) return t('min', { n: Math.round(secs / 60) });
  return t('hour', { n: Math.floor(secs / 3600), m: Math.round((secs % 3600) / 60) });
}

// eta estimates the time left from the rate since the attempt started.
function eta(task) {
  const p = task.progress || {};
  if (task.status !== 'EXECUTING' || !task.started_at || !p.rows_total || !p.rows_written) return '';
  const elapsed = (Date.now() - Date.parse(task.started_at)) / 1000;
  if (elapsed <= 0) return '';
  const left = (p.rows_total - p.rows_written) / (p.rows_written / elapsed);
  return left < 1 ? t('etaSoon') : t('eta', { d: fmtDuration(left) });
}

// ---------------------------------------------------------------- the list

function waitingRetry(task) { return task.status === 'FAILED' && !!task.next_attempt_at; }
function canCancel(task) { return !task.done && !task.cancel_requested; }
// fileExpired: a finished export whose file retention deleted; a retry
// makes it again.
function fileExpired(task) {
  return task.status === 'SUCCESS' && !!task.file && !!task.file.expires_at && Date.parse(task.file.expires_at) <= Date.now();
}
function canRetry(task) { return task.status === 'CANCELLED' || (task.status === 'FAILED' && task.done) || fileExpired(task); }

function renderTask(task) {
  const li = el('li', { class: 'task', 'data-id': task.id, 'data-status': task.status });
  const title = el('h3', { class: 'task-name', id: 'task-' + task.id + '-name', text: task.name });
  const badge = el('span', { class: 'badge st-' + task.status, text: task.cancel_requested ? t('cancelRequested') : t('st_' + task.status) });
  const head = el('div', { class: 'task-head' }, title, badge);
  const meta = el('p', { class: 'meta' }, task.type + ' · ' + String(task.format).toUpperCase());
  if (task.attempts > 1) meta.append(' · ' + t('attempts', { n: task.attempts }));
  li.append(head, meta);

  const p = task.progress || {};
  if (task.status === 'EXECUTING' || task.status === 'NOT_EXECUTED') {
    const bar = el('progress', { class: 'meter', max: '100', 'aria-labelledby': 'task-' + task.id + '-name', 'aria-describedby': 'task-' + task.id + '-rows' });
    let text;
    if (p.rows_total !== null && p.rows_total !== undefined && p.percent !== null && p.percent !== undefined) {
      bar.value = p.percent;
      text = t('rowsOf', { w: fmtNum(p.rows_written), t: fmtNum(p.rows_total), p: Math.floor(p.percent) });
    } else if (task.status === 'EXECUTING') {
      text = t('rowsSoFar', { w: fmtNum(p.rows_written || 0) });
    } else {
      bar.value = 0;
      text = t('st_NOT_EXECUTED');
    }
    const e = eta(task);
    li.append(bar, el('p', { class: 'rows', id: 'task-' + task.id + '-rows', text: e ? text + ' · ' + e : text }));
  }
  if (task.status === 'SUCCESS' && task.file) {
    li.append(el('p', { class: 'done', text: fmtBytes(task.file.size) + ' · ' + t('rows', { n: fmtNum(task.file.rows) }) }));
    if (fileExpired(task)) li.append(el('p', { class: 'retrying', text: t('fileExpired') }));
  }
  if (task.status === 'FAILED' && task.error) li.append(el('p', { class: 'error', text: task.error }));
  if (waitingRetry(task)) li.append(el('p', { class: 'retrying', text: t('retryingAt', { t: fmtTime(task.next_attempt_at) }) }));

  const times = el('p', { class: 'times' }, el('time', { datetime: task.created_at, text: t('created', { t: fmtTime(task.created_at) }) }));
  if (task.finished_at && task.done) times.append(' · ', el('time', { datetime: task.finished_at, text: t('finished', { t: fmtTime(task.finished_at) }) }));
  li.append(times);

  const actions = el('div', { class: 'actions' });
  if (task.status === 'SUCCESS' && task.file && !fileExpired(task)) {
    actions.append(el('a', {
      class: 'button primary', href: task.file.url, download: '', 'data-action': 'download',
      'aria-label': t('downloadOf', { n: task.name }), text: t('download'), on: { click: (ev) => download(ev, task.id) },
    }));
  }
  if (canCancel(task)) {
    actions.append(el('button', { type: 'button', 'data-action': 'cancel', 'aria-label': t('cancelOf', { n: task.name }), text: t('cancel'), on: { click: () => act(task.id, 'cancel') } }));
  }
  if (canRetry(task)) {
    actions.append(el('button', { type: 'button', 'data-action': 'retry', 'aria-label': t('retryOf', { n: task.name }), text: t('retry'), on: { click: () => act(task.id, 'retry') } }));
  }
  if (actions.childElementCount) li.append(actions);
  return li;
}

// render draws the list newest first, keeping the focus on the same
// control of the same task across updates.
function render() {
  const ul = $('tasks');
  const focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest('li.task') : null;
  const refocus = focused ? { id: focused.dataset.id, action: document.activeElement.dataset.action } : null;
  const items = [...state.tasks.values()].sort((a, b) => b.id - a.id);
  const rows = new Map([...ul.children].map((li) => [li.dataset.id, li]));
  let prev = null;
  for (const task of items) {
    const fresh = renderTask(task);
    const old = rows.get(String(task.id));
    if (old) { old.replaceWith(fresh); rows.delete(String(task.id)); }
    if (prev) prev.after(fresh); else ul.prepend(fresh);
    prev = fresh;
  }
  for (const li of rows.values()) li.remove();
  $('empty').hidden = items.length > 0;
  $('more').hidden = !state.cursor;
  if (refocus && refocus.action) {
    const b = ul.querySelector('li[data-id="' + refocus.id + '"] [data-action="' + refocus.action + '"]');
    if (b) b.focus();
  }
}

function upsert(task) {
  // A task this page does not show is shown when it is newer than the
  // oldest one shown (or all are shown): it belongs on the loaded pages.
  if (!state.tasks.has(task.id)) {
    const ids = [...state.tasks.keys()];
    if (state.cursor && ids.length && task.id < Math.min(...ids)) return;
  }
  state.tasks.set(task.id, task);
}

// loadFirstPage reads the newest page again (at start, and whenever the
// event stream (re)starts): fresh copies replace what it covers, and older
// pages already loaded stay.
async function loadFirstPage() {
  const res = await api('/api/v1/tasks?limit=20');
  if (!res.ok) throw new Error((await problemOf(res)).detail);
  const body = await res.json();
  const min = body.items.length ? Math.min(...body.items.map((x) => x.id)) : -Infinity;
  const next = new Map();
  let older = false;
  if (body.next_cursor !== null) {
    for (const [id, task] of state.tasks) if (id < min) { next.set(id, task); older = true; }
  }
  for (const task of body.items) next.set(task.id, task);
  if (!older) state.cursor = body.next_cursor;
  state.tasks = next;
  render();
}

async function loadMore() {
  if (!state.cursor) return;
  const res = await api('/api/v1/tasks?limit=20&cursor=' + encodeURIComponent(state.cursor));
  if (!res.ok) return showError((await problemOf(res)).detail);
  const body = await res.json();
  for (const task of body.items) state.tasks.set(task.id, task);
  state.cursor = body.next_cursor;
  render();
}

// ---------------------------------------------------------------- actions

// notice says something in the status line; it is said again in the new
// language when the language changes.
let lastNotice = null;
function notice(key, vars) {
  lastNotice = { key, vars };
  $('notice').textContent = t(key, vars);
}
function showError(msg) {
  const a = $('alert');
  a.textContent = t('failed', { e: msg });
  a.hidden = false;
}
function clearError() { $('alert').hidden = true; $('alert').textContent = ''; }

async function act(id, action) {
  clearError();
  try {
    const res = await api('/api/v1/tasks/' + id + '/' + action, { method: 'POST' });
    if (!res.ok) return showError((await problemOf(res)).detail);
    const task = await res.json();
    state.tasks.set(task.id, Object.assign({}, state.tasks.get(task.id) || {}, task));
    render();
    notice(action === 'cancel' ? 'cancelled_ok' : 'retried_ok', { n: task.name });
  } catch (e) {
    if (e.message !== '401') showError(e.message);
  }
}

// download follows the task's signed link; one about to expire is
// renewed first by reading the task again.
async function download(ev, id) {
  const task = state.tasks.get(id);
  const exp = task && task.file && task.file.url_expires_at ? Date.parse(task.file.url_expires_at) : Infinity;
  if (exp - Date.now() > 10000) return;
  ev.preventDefault();
  try {
    const res = await api('/api/v1/tasks/' + id);
    if (!res.ok) return showError((await problemOf(res)).detail);
    const fresh = await res.json();
    state.tasks.set(id, fresh);
    render();
    if (fresh.file) location.assign(fresh.file.url);
  } catch (e) {
    if (e.message !== '401') showError(e.message);
  }
}

// ---------------------------------------------------------------- live updates

function parseEvent(raw) {
  const ev = { event: 'message', data: '' };
  for (const line of raw.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
    if (field === 'event') ev.event = value;
    else if (field === 'data') ev.data += (ev.data ? '\n' : '') + value;
  }
  return ev;
}

// follow reads GET /api/v1/events with fetch (EventSource cannot send the
// Authorization header) and reconnects when the stream ends.
async function follow() {
  while (state.token) {
    try {
      const res = await api('/api/v1/events', { headers: { Accept: 'text/event-stream' } });
      if (!res.ok || !res.body) throw new Error('events: ' + res.status);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value.replace(/\r\n?/g, '\n');
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = parseEvent(buf.slice(0, i));
          buf = buf.slice(i + 2);
          if (ev.event === 'ready' || ev.event === 'resync') {
            state.live = true;
            notice('live');
            await loadFirstPage();
          } else if (ev.event === 'task') {
            upsert(JSON.parse(ev.data));
            render();
          }
        }
      }
    } catch (e) {
      if (e.message === '401') return;
    }
    if (!state.token) return;
    state.live = false;
    notice('reconnecting');
    await new Promise((r) => setTimeout(r, 2000));
  }
}

// ETAs move with the clock, not only with events.
setInterval(() => { if (state.token && [...state.tasks.values()].some((x) => x.status === 'EXECUTING')) render(); }, 5000);

// ---------------------------------------------------------------- the form

function paramInput(p) {
  const id = 'p-' + p.name;
  const hintID = id + '-hint';
  const hint = [t('kind_' + p.kind), p.required ? t('required') : '', p.description || ''].filter(Boolean).join(' · ');
  let input;
  switch (p.kind) {
    case 'bool':
      input = el('input', { id, type: 'checkbox', 'data-param': p.name, 'data-kind': p.kind, 'aria-describedby': hintID });
      return el('div', { class: 'field check' }, input, el('label', { for: id, text: p.name }), el('p', { class: 'hint', id: hintID, text: hint }));
    case 'int':
      input = el('input', { id, type: 'number', step: '1', inputmode: 'numeric' });
      break;
    case 'decimal':
      input = el('input', { id, type: 'text', inputmode: 'decimal', pattern: '-?[0-9]+(\\.[0-9]+)?' });
      break;
    case 'time':
      input = el('input', { id, type: 'datetime-local', step: '1' });
      break;
    default:
      input = el('input', { id, type: 'text', maxlength: '4096' });
  }
  input.dataset.param = p.name;
  input.dataset.kind = p.kind;
  input.setAttribute('aria-describedby', hintID);
  if (p.required) { input.required = true; input.setAttribute('aria-required', 'true'); }
  return el('div', { class: 'field' }, el('label', { for: id, text: p.name + (p.required ? ' *' : '') }), input, el('p', { class: 'hint', id: hintID, text: hint }));
}

function columnItem(f) {
  const id = 'c-' + f.name;
  const label = f.header || f.name;
  const li = el('li', { class: 'column', 'data-field': f.name });
  const move = (dir) => {
    const sib = dir < 0 ? li.previousElementSibling : li.nextElementSibling;
    if (!sib) return;
    if (dir < 0) sib.before(li); else sib.after(li);
    li.querySelector('[data-move="' + dir + '"]').focus();
  };
  li.append(
    el('input', { id, type: 'checkbox', checked: true }),
    el('label', { for: id, text: label }),
    el('span', { class: 'moves' },
      el('button', { type: 'button', class: 'small', 'data-move': '-1', 'aria-label': t('moveUp', { c: label }), text: '↑', on: { click: () => move(-1) } }),
      el('button', { type: 'button', class: 'small', 'data-move': '1', 'aria-label': t('moveDown', { c: label }), text: '↓', on: { click: () => move(1) } })),
  );
  return li;
}

function showType() {
  const ty = state.types.find((x) => x.type === $('f-type').value);
  if (!ty) return;
  const fmt = $('f-format');
  fmt.replaceChildren(...ty.formats.map((f) => el('option', { value: f, text: f.toUpperCase() })));
  const params = $('params');
  params.replaceChildren(...(ty.params.length ? ty.params.map(paramInput) : [el('p', { class: 'hint', text: t('noParams') })]));
  $('columns').replaceChildren(...ty.fields.map(columnItem));
}

async function loadTypes() {
  const res = await api('/api/v1/types');
  if (!res.ok) return;
  state.types = (await res.json()).items || [];
  const sel = $('f-type');
  const keep = sel.value;
  sel.replaceChildren(...state.types.map((x) => el('option', { value: x.type, text: x.type })));
  if (keep) sel.value = keep;
  $('create').hidden = state.types.length === 0;
  showType();
}

function paramValue(input) {
  const v = input.value.trim();
  switch (input.dataset.kind) {
    case 'bool': return input.checked;
    case 'int': return v === '' ? undefined : Number(v);
    case 'time': return v === '' ? undefined : new Date(v).toISOString();
    default: return v === '' ? undefined : v;
  }
}

function formErrors(items) {
  const box = $('form-errors');
  document.querySelectorAll('#form [aria-invalid]').forEach((e) => e.removeAttribute('aria-invalid'));
  box.replaceChildren();
  box.hidden = !items.length;
  if (!items.length) return;
  const ul = el('ul');
  for (const it of items) {
    ul.append(el('li', { text: (it.field ? it.field + ': ' : '') + it.reason }));
    const target = it.field === 'name' ? $('f-name') : it.field && it.field.startsWith('params.') ? document.querySelector('[data-param="' + it.field.slice(7) + '"]') : null;
    if (target) target.setAttribute('aria-invalid', 'true');
  }
  box.append(ul);
  box.focus();
}

async function submitForm(ev) {
  ev.preventDefault();
  const params = {};
  for (const input of document.querySelectorAll('#params [data-param]')) {
    const v = paramValue(input);
    if (v !== undefined && !(input.dataset.kind === 'bool' && v === false)) params[input.dataset.param] = v;
  }
  const columns = [...document.querySelectorAll('#columns li')].filter((li) => li.querySelector('input').checked).map((li) => ({ field: li.dataset.field }));
  if (!columns.length) return formErrors([{ field: '', reason: t('noColumns') }]);
  const body = { name: $('f-name').value, type: $('f-type').value, format: $('f-format').value, params, columns };
  try {
    const res = await api('/api/v1/tasks', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    if (!res.ok) {
      const p = await problemOf(res);
      return formErrors(p.errors && p.errors.length ? p.errors : [{ field: '', reason: p.detail }]);
    }
    const task = await res.json();
    formErrors([]);
    $('f-name').value = '';
    state.tasks.set(task.id, task);
    render();
    notice('created_ok', { n: task.name });
  } catch (e) {
    if (e.message !== '401') formErrors([{ field: '', reason: e.message }]);
  }
}

// ---------------------------------------------------------------- language

function applyLang() {
  document.documentElement.lang = lang;
  document.title = t('title');
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  if ($('signin-text').dataset.key) $('signin-text').textContent = t($('signin-text').dataset.key);
  $('lang').value = lang;
  if (state.user) {
    $('who').textContent = t('signedInAs', { u: state.user }) + (state.expires ? ' · ' + t('until', { t: fmtTime(new Date(state.expires).toISOString()) }) : '');
  }
  if (lastNotice) notice(lastNotice.key, lastNotice.vars);
  if (state.types.length) relabelForm();
  render();
}

// relabelForm builds the form again in the new language, keeping what the
// user entered: param values, ticked columns and their order.
function relabelForm() {
  const values = [...document.querySelectorAll('#params [data-param]')].map((i) => [i.id, i.type === 'checkbox' ? i.checked : i.value]);
  const cols = [...document.querySelectorAll('#columns li')].map((li) => [li.dataset.field, li.querySelector('input').checked]);
  const format = $('f-format').value;
  showType();
  $('f-format').value = format;
  for (const [id, v] of values) {
    const i = document.getElementById(id);
    if (i && i.type === 'checkbox') i.checked = v; else if (i) i.value = v;
  }
  const ol = $('columns');
  for (const [field, checked] of cols) {
    const li = ol.querySelector('li[data-field="' + field + '"]');
    if (!li) continue;
    li.querySelector('input').checked = checked;
    ol.append(li);
  }
}

// ---------------------------------------------------------------- start

function start() {
  readToken();
  $('lang').addEventListener('change', () => { lang = $('lang').value; localStorage.setItem('dc.lang', lang); applyLang(); });
  $('more').addEventListener('click', loadMore);
  $('f-type').addEventListener('change', showType);
  $('form').addEventListener('submit', submitForm);
  $('form-errors').tabIndex = -1;
  applyLang();
  if (!state.token) return signedOut(false);
  $('list').hidden = false;
  loadFirstPage().catch((e) => { if (e.message !== '401') showError(e.message); });
  loadTypes().catch(() => {});
  follow();
}

start();
