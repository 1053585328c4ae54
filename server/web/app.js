// app.js - the Dumper dashboard: apps, an app's agents, databases, schedules, retention, backups and
// charts. Talks to dumperd's /ui/ JSON endpoints with the session cookie; every POST carries the
// session's CSRF token. No framework: small helpers build the DOM (text is never parsed as HTML).
'use strict';
/* global timeChart */

let csrf = '';
let timer = null;
let leaving = false; // logging out: a refresh answered 401 meanwhile must not navigate a second time

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    if (k === 'on') for (const ev in attrs.on) e.addEventListener(ev, attrs.on[ev]);
    else if (k === 'class') e.className = attrs[k];
    else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) e.setAttribute(k, attrs[k]);
  }
  for (const c of kids.flat()) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function toast(msg) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { t.hidden = true; }, 4000);
}

async function api(path, body) {
  const opts = {credentials: 'same-origin', headers: {}};
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    opts.headers['X-CSRF-Token'] = csrf;
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path, opts);
  if (r.status === 401) {
    if (!leaving) { leaving = true; clearInterval(timer); location.href = '/login.html'; }
    throw new Error('log in first');
  }
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.message || ('HTTP ' + r.status));
  return j;
}

function size(n) {
  if (n === null || n === undefined) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(n < 10 ? 2 : 1) : n) + ' ' + u[i];
}
function secs(ms) {
  if (ms === null || ms === undefined) return '–';
  return ms < 1000 ? ms + ' ms' : ms < 120000 ? (ms / 1000).toFixed(1) + ' s' : (ms / 60000).toFixed(1) + ' min';
}
function when(s) { return s ? s.replace('T', ' ').replace('Z', ' UTC') : '–'; }
function ago(s) {
  if (!s) return 'never';
  const d = (Date.now() - Date.parse(s)) / 1000;
  if (d < 90) return Math.max(0, Math.round(d)) + ' s ago';
  if (d < 5400) return Math.round(d / 60) + ' min ago';
  if (d < 172800) return Math.round(d / 3600) + ' h ago';
  return Math.round(d / 86400) + ' days ago';
}

// ---- apps ----

function installPanel(app, key, title) {
  const api_url = location.origin;
  const c = `#include <dumper.h>

/* once, at start-up (before forking workers) */
dumper_database dbs[] = {{.url = getenv("DATABASE_URL"), .key = "primary"}};
dumper_agent_opts o = DUMPER_AGENT_OPTS_INIT;
o.app_key = getenv("DUMPER_APP_KEY"); /* the key above; never in your source */
o.api_base = "${api_url}";
o.app_name = "${app}";
o.databases = dbs;
o.ndatabases = 1;
dumper_agent_start(&o);`;
  return h('section', {class: 'card notice', id: 'new-app-key'},
    h('h2', {}, title || `App "${app}" created`),
    h('p', {}, 'Its key is shown only this once; dumperd stores only a hash of it.'),
    h('div', {class: 'key mono', id: 'app-key'}, key),
    h('h3', {}, 'Rails'),
    h('pre', {id: 'rails-line'}, `rails g dumper:install ${key}`),
    h('h3', {}, 'C / C++ host (link libdumper)'),
    h('pre', {}, `export DUMPER_APP_KEY=${key}\n\n` + c),
    h('h3', {}, 'Standalone agent'),
    h('pre', {}, `DUMPER_APP_KEY=${key} dumper agent --api ${api_url} --database sqlite:///path/to/app.db`));
}

async function viewApps() {
  const view = document.getElementById('view');
  const d = await api('/ui/apps');
  const rows = d.apps.map(a => h('tr', {},
    h('td', {}, h('a', {href: `#/app/${a.id}`, class: 'app-link'}, a.name)),
    h('td', {}, a.agents), h('td', {}, a.databases),
    h('td', {}, a.last_good_at ? ago(a.last_good_at) : 'never'),
    h('td', {class: a.failed ? 'error' : ''}, a.failed)));
  const form = h('form', {id: 'create-app', class: 'row'},
    h('label', {}, 'New app name', h('input', {id: 'app-name', required: true, pattern: '[A-Za-z0-9_.\\-]{1,64}', placeholder: 'shop'})),
    h('button', {type: 'submit', id: 'create-app-button'}, 'Create app'));
  const slot = h('div', {id: 'new-app'});
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    try {
      const r = await api('/ui/apps', {name: document.getElementById('app-name').value});
      const empty = view.querySelector('#no-apps');
      if (empty) empty.remove();
      slot.replaceChildren(installPanel(r.name, r.key),
        h('p', {}, h('a', {href: `#/app/${r.id}`, id: 'open-new-app'}, `Open ${r.name} →`)));
      const tb = view.querySelector('#apps tbody');
      tb.append(h('tr', {}, h('td', {}, h('a', {href: `#/app/${r.id}`, class: 'app-link'}, r.name)),
        h('td', {}, 0), h('td', {}, 0), h('td', {}, 'never'), h('td', {}, 0)));
    } catch (e) { toast(e.message); }
  });
  view.replaceChildren(
    h('section', {class: 'card'}, h('h1', {}, 'Apps'),
      d.apps.length ? null : h('p', {class: 'muted', id: 'no-apps'}, 'No app yet: create one, then start an agent with its key.'),
      h('div', {class: 'table-wrap'}, h('table', {id: 'apps'},
        h('thead', {}, h('tr', {}, h('th', {}, 'App'), h('th', {}, 'Agents'), h('th', {}, 'Databases'),
          h('th', {}, 'Last good backup'), h('th', {}, 'Failed'))),
        h('tbody', {}, rows)))),
    h('section', {class: 'card'}, h('h2', {}, 'Create an app'), form, slot));
}

// ---- one app ----

// The restore commands come from dumperd, built and shell-quoted there (server/domain/shell.c): a name
// an agent registered cannot break out of its word when the command is pasted into a shell.
function charts(d) {
  const wrap = h('div', {id: 'charts'});
  for (const db of d.databases) {
    const bs = d.backups.filter(b => b.database_id === db.database_id);
    const good = bs.filter(b => b.status === 'good' || b.status === 'deleted').filter(b => b.size !== null);
    const fails = bs.filter(b => b.status === 'failed').map(b => Date.parse(b.finished_at || b.created_at));
    const pts = f => good.map(b => ({t: Date.parse(b.finished_at || b.created_at), v: f(b)}));
    wrap.append(h('section', {class: 'card', 'data-database': db.key},
      h('h2', {}, `${db.key} `, h('span', {class: 'muted small'}, `${db.type} · ${db.environment}`)),
      h('div', {class: 'charts2'},
        timeChart('Backup size', pts(b => b.size), fails, size),
        timeChart('Duration', pts(b => (b.duration_ms || 0) / 1000), fails,
                  v => v === 0 ? '0' : v < 1 ? Math.round(v * 1000) + ' ms' : v < 10 ? v.toFixed(1) + ' s' : Math.round(v) + ' s')),
      h('p', {class: 'legend'}, '● good backup   ', h('span', {class: 'x'}, '✕'), ' failed')));
  }
  if (!d.databases.length) wrap.append(h('p', {class: 'muted'}, 'Charts appear once an agent has registered a database.'));
  return wrap;
}

function agentsTable(d) {
  if (!d.agents.length)
    return h('p', {class: 'muted', id: 'no-agents'}, 'No agent has registered yet. Start your app (or ',
      h('code', {}, 'dumper agent'), ') with this app\'s key.');
  return h('div', {class: 'table-wrap'}, h('table', {id: 'agents'},
    h('thead', {}, h('tr', {}, ['Host', 'PID', 'Role', 'Env', 'Dispatcher', 'Framework', 'Agent', 'Last seen'].map(t => h('th', {}, t)))),
    h('tbody', {}, d.agents.map(a => h('tr', {},
      h('td', {}, a.hostname), h('td', {}, a.pid), h('td', {class: 'role-' + a.role}, a.role), h('td', {}, a.environment),
      h('td', {}, a.dispatcher || '–'), h('td', {}, a.framework || '–'), h('td', {}, a.agent_version || '–'),
      h('td', {title: a.last_seen}, ago(a.last_seen)))))));
}

function databasesTable(d) {
  if (!d.databases.length) return h('p', {class: 'muted'}, 'No database discovered yet.');
  return h('div', {class: 'table-wrap'}, h('table', {id: 'databases'},
    h('thead', {}, h('tr', {}, ['Key', 'Type', 'Env', 'Host', 'Name', 'User', 'Last good backup', 'Last verified restore'].map(t => h('th', {}, t)))),
    h('tbody', {}, d.databases.map(db => h('tr', {'data-database': db.database_id},
      h('td', {}, db.key), h('td', {}, db.type), h('td', {}, db.environment),
      h('td', {}, db.host ? db.host + (db.port ? ':' + db.port : '') : '–'), h('td', {class: 'wrap'}, db.name || '–'),
      h('td', {}, db.user || '–'), h('td', {title: db.last_good_at || ''}, ago(db.last_good_at)),
      verifiedCell(db.verification))))));
}

// A database's restore drill evidence (docs/drills.md "Evidence"): when a drill last proved a backup restores.
function verifiedCell(v) {
  if (!v || !v.drills) return h('td', {class: 'verified', 'data-verified': ''}, h('span', {class: 'muted'}, 'never drilled'));
  const latest = v.latest_drill_status;
  return h('td', {class: 'verified', 'data-verified': v.last_verified_at || '',
                  title: `${v.drills} drill(s), ${v.drill_failures} not passed; latest ${latest} ${v.latest_drill_at || ''}`},
    v.last_verified_at ? ago(v.last_verified_at) : 'never',
    latest !== 'passed' ? [' ', h('span', {class: 'status ' + latest}, 'latest ' + latest)] : null);
}

// A backup's newest restore drill: its status, figures and mismatch lines.
function drillCell(r) {
  if (!r) return h('td', {class: 'drill', 'data-drill': ''}, '–');
  const figures = r.tables === null ? 'not restored' : `${r.tables} tables, ${r.rows} rows` + (r.compared ? ', compared with the manifest' : ', restore only');
  return h('td', {class: 'drill wrap', 'data-drill': r.status},
    h('details', {}, h('summary', {}, h('span', {class: 'status ' + r.status}, r.status), ' ', h('span', {class: 'small muted'}, ago(r.finished_at))),
      h('p', {class: 'small drill-figures'}, `${figures} · drill ${secs(r.duration_ms)} (restore ${secs(r.restore_ms)})`),
      r.error ? h('p', {class: 'error small drill-error'}, r.error) : null,
      r.mismatches.length ? h('ul', {class: 'mismatches small'}, r.mismatches.map(m => h('li', {}, m)),
        r.mismatch_count > r.mismatches.length ? h('li', {class: 'muted'}, `… ${r.mismatch_count - r.mismatches.length} more`) : null) : null,
      r.checks.length ? h('ul', {class: 'checks small'}, r.checks.map(c => h('li', {}, `check ${c.name}: ${c.passed ? 'true' : 'FAILED'}` + (c.result ? ` (${c.result})` : '')))) : null));
}

function backupsTable(d, appId) {
  if (!d.backups.length) return h('p', {class: 'muted', id: 'no-backups'}, 'No backup yet.');
  return h('div', {class: 'table-wrap'}, h('table', {id: 'backups'},
    h('thead', {}, h('tr', {}, ['Time', 'Database', 'Status', 'Size', 'Duration', 'SHA-256', 'Copies', 'Restore drill', ''].map(t => h('th', {}, t)))),
    h('tbody', {}, d.backups.map(b => h('tr', {'data-backup': b.backup_id, 'data-status': b.status},
      h('td', {}, when(b.created_at)), h('td', {}, b.database_key),
      h('td', {}, h('span', {class: 'status ' + b.status}, b.status)),
      h('td', {class: 'size', 'data-bytes': b.size === null ? '' : b.size}, size(b.size)),
      h('td', {}, secs(b.duration_ms)),
      h('td', {class: 'mono', title: b.sha256 || ''}, b.sha256 ? b.sha256.slice(0, 12) + '…' : '–'),
      copiesCell(d.copies.filter(c => c.backup_id === b.backup_id)),
      drillCell(b.drill),
      h('td', {class: 'wrap'},
        b.status === 'good' ? [h('a', {href: `/ui/apps/${appId}/backups/${b.backup_id}/download`, class: 'download', download: b.file_name}, 'Download'),
          ' ', h('a', {href: `/ui/apps/${appId}/backups/${b.backup_id}/manifest`, class: 'manifest small', download: b.file_name + '.json',
            title: 'beside the downloaded file, dumper restore needs no --sha256'}, 'manifest'),
          h('details', {}, h('summary', {}, 'restore'),
            h('p', {class: 'muted small'}, 'from the storage on the dumperd host:'), h('pre', {class: 'restore'}, b.restore_command || ''),
            h('p', {class: 'muted small'}, 'from the downloaded file:'), h('pre', {class: 'restore-download'}, b.restore_download_command || ''),
            b.encryption ? h('p', {class: 'muted small encrypted-to'}, 'encrypted (age) to: ',
              b.recipients.map(k => h('code', {class: 'wrap'}, k + ' ')),
              '; KEY_FILE is the identity file of one of them (from dumper keygen or age-keygen)') : null,
            h('div', {class: 'mono small'}, 'sha256 ' + b.sha256))] : null,
        b.error_message ? h('span', {class: 'error'}, `${b.error_code || 'error'}: ${b.error_message}`) : null))))));
}

function envs(d) {
  const s = new Set(d.databases.map(x => x.environment).concat(d.agents.map(x => x.environment)));
  if (!s.size) s.add('production');
  return [...s];
}

function dbSelect(id, d, all) {
  return h('select', {id}, h('option', {value: ''}, all),
    d.databases.map(db => h('option', {value: db.key}, `${db.key} (${db.environment})`)));
}

function scheduleCard(app, d) {
  const cron = h('input', {id: 'cron', value: d.schedules[0] ? d.schedules[0].cron : '0 3 * * *', required: true});
  const tz = h('input', {id: 'tz', value: d.schedules[0] ? d.schedules[0].tz : (Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'), required: true});
  const env = h('select', {id: 'sched-env'}, envs(d).map(e => h('option', {}, e)));
  const db = dbSelect('sched-db', d, 'all databases');
  const preview = h('ul', {id: 'next-runs', class: 'small mono'});
  const msg = h('p', {class: 'error small', id: 'cron-error'});
  const refresh = async () => {
    msg.textContent = '';
    try {
      const r = await api(`/ui/cron?expr=${encodeURIComponent(cron.value)}&tz=${encodeURIComponent(tz.value)}`);
      preview.replaceChildren(...r.next.map(t => h('li', {}, when(t))));
      if (r.warning) msg.textContent = 'warning: ' + r.warning;
    } catch (e) { preview.replaceChildren(); msg.textContent = e.message; }
  };
  cron.addEventListener('input', refresh);
  tz.addEventListener('input', refresh);
  refresh();
  const current = h('div', {id: 'schedules'}, d.schedules.length ? d.schedules.map(s => h('p', {class: 'small'},
    h('code', {}, s.cron), ` ${s.tz} · ${s.environment}` + (s.database_key ? ` · ${s.database_key}` : ' · all databases'),
    h('br'), h('span', {class: 'muted'}, 'next: ' + (s.next[0] ? when(s.next[0]) : '–')))) : h('p', {class: 'muted small'}, 'No schedule yet.'));
  const form = h('form', {id: 'schedule-form'},
    h('div', {class: 'row'}, h('label', {}, 'Cron (min hour day month weekday)', cron), h('label', {}, 'Time zone', tz)),
    h('div', {class: 'row'}, h('label', {}, 'Environment', env), h('label', {}, 'Database', db)),
    h('p', {class: 'muted small'}, 'Next runs:'), preview, msg,
    h('button', {type: 'submit', id: 'save-schedule'}, 'Save schedule'));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    try {
      const r = await api(`/ui/apps/${app}/schedule`, {cron: cron.value, tz: tz.value, environment: env.value, database: db.value || null});
      toast(r.warning ? `Schedule saved; warning: ${r.warning}` : 'Schedule saved');
      load(app, true);
    } catch (e) { toast(e.message); }
  });
  return h('section', {class: 'card'}, h('h2', {}, 'Schedule'), current, form);
}

function retentionCard(app, d) {
  const r = d.app.retention;
  const f = (id, label, v) => h('label', {}, label, h('input', {id, type: 'number', min: 0, max: 100000, value: v}));
  const form = h('form', {id: 'retention-form'},
    h('div', {class: 'row'}, f('keep-last', 'Keep last', r.keep_last), f('keep-daily', 'Daily', r.daily)),
    h('div', {class: 'row'}, f('keep-weekly', 'Weekly', r.weekly), f('keep-monthly', 'Monthly', r.monthly)),
    h('p', {class: 'muted small'}, 'All zero keeps everything. The newest good backup is never deleted; failures never delete good backups.'),
    h('button', {type: 'submit', id: 'save-retention'}, 'Save retention'));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const n = id => parseInt(document.getElementById(id).value || '0', 10);
    try {
      await api(`/ui/apps/${app}/retention`, {keep_last: n('keep-last'), daily: n('keep-daily'), weekly: n('keep-weekly'), monthly: n('keep-monthly')});
      toast('Retention saved');
    } catch (e) { toast(e.message); }
  });
  return h('section', {class: 'card'}, h('h2', {}, 'Retention'), form);
}

// Encryption: public keys only; the private halves stay with the people who restore.
function encryptionCard(app, d) {
  const p = d.app.policy || {recipients: []};
  const keys = h('textarea', {id: 'recipients', rows: 3, spellcheck: 'false', class: 'mono small',
    placeholder: 'age1... (one per line)'}, p.recipients.join('\n'));
  const form = h('form', {id: 'encryption-form'},
    h('label', {}, 'Recipients (age public keys)', keys),
    h('p', {class: 'muted small', id: 'encryption-state'}, p.recipients.length
      ? `New backups are encrypted to ${p.recipients.length} recipient(s) on the app's host; dumperd cannot read them.`
      : 'Backups are not encrypted. Add the output of dumper keygen (or age-keygen) to encrypt new backups.'),
    h('button', {type: 'submit', id: 'save-recipients'}, 'Save recipients'));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const list = keys.value.split(/\s+/).filter(x => x);
    try {
      await api(`/ui/apps/${app}/policy`, {recipients: list});
      toast(list.length ? 'New backups are encrypted to these recipients' : 'New backups are not encrypted');
      load(app, true);
    } catch (e) { toast(e.message); }
  });
  return h('section', {class: 'card'}, h('h2', {}, 'Encryption'), form);
}

function backupNowCard(app, d) {
  const env = h('select', {id: 'now-env'}, envs(d).map(e => h('option', {}, e)));
  const db = dbSelect('now-db', d, 'all databases');
  const btn = h('button', {id: 'backup-now', disabled: d.databases.length ? false : true}, 'Back up now');
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try {
      const r = await api(`/ui/apps/${app}/backup`, {environment: env.value, database: db.value || null});
      toast(`${r.queued} backup job(s) queued; the primary agent picks them up on its next poll`);
      load(app, false);
    } catch (e) { toast(e.message); }
    btn.disabled = false;
  });
  return h('section', {class: 'card'}, h('h2', {}, 'Back up now'),
    h('div', {class: 'row'}, h('label', {}, 'Environment', env), h('label', {}, 'Database', db)), btn);
}

// A rotated key stays on the page (also across a rebuild of the page) until another app is opened.
let rotated = null;

function keyCard(app, d) {
  const slot = h('div', {id: 'rotated-key'});
  if (rotated && rotated.app === String(app)) slot.append(rotated.node);
  const btn = h('button', {id: 'rotate-key', class: 'danger'}, 'Rotate key');
  btn.addEventListener('click', async () => {
    if (!confirm(`Give "${d.app.name}" a new key? The old key stops working at once: agents using it stop at their next poll.`)) return;
    btn.disabled = true;
    try {
      const r = await api(`/ui/apps/${app}/key`, {});
      rotated = {app: String(app), node: installPanel(r.name, r.key, `New key for "${r.name}"`)};
      slot.replaceChildren(rotated.node);
      toast('New key made; the old key is refused from now on');
    } catch (e) { toast(e.message); }
    btn.disabled = false;
  });
  return h('section', {class: 'card'}, h('h2', {}, 'App key'),
    h('p', {class: 'muted small'}, 'Only a hash of the key is stored. A new key is shown once; restart the agents with it.'),
    btn, slot);
}

async function load(app, full) {
  const [d, cp] = await Promise.all([api(`/ui/apps/${app}`), api(`/ui/storage/copies/${app}`)]);
  d.copies = cp.copies;
  const view = document.getElementById('view');
  if (full || !view.querySelector('#app-page') || view.querySelector('#app-page').dataset.app !== String(app) ||
      view.querySelector('#app-page').dataset.dbs !== String(d.databases.length)) {
    // Forms are built once per app (and when databases appear), so a refresh never eats typing.
    view.replaceChildren(h('div', {id: 'app-page', 'data-app': app, 'data-dbs': d.databases.length},
      h('section', {class: 'card'}, h('h1', {}, d.app.name),
        h('p', {class: 'muted', id: 'summary'}, '')),
      h('section', {class: 'card'}, h('h2', {}, 'Agents'), h('div', {id: 'agents-slot'})),
      h('section', {class: 'card'}, h('h2', {}, 'Databases'), h('div', {id: 'databases-slot'})),
      h('div', {id: 'charts-slot'}),
      h('div', {class: 'grid'}, backupNowCard(app, d), scheduleCard(app, d), retentionCard(app, d), encryptionCard(app, d)),
      keyCard(app, d),
      h('section', {class: 'card', id: 'history'}, h('h2', {}, 'Backups'), h('div', {id: 'backups-slot'}))));
  }
  const good = d.backups.filter(b => b.status === 'good').length, failed = d.backups.filter(b => b.status === 'failed').length;
  const primary = d.agents.find(a => a.role === 'primary');
  document.getElementById('summary').textContent =
    `${d.agents.length} agent(s)${primary ? ', primary ' + primary.hostname + ' pid ' + primary.pid : ''} · ` +
    `${d.databases.length} database(s) · ${good} good, ${failed} failed backup(s) · storage ${d.storage}`;
  document.getElementById('agents-slot').replaceChildren(agentsTable(d));
  document.getElementById('databases-slot').replaceChildren(databasesTable(d));
  document.getElementById('charts-slot').replaceChildren(charts(d));
  document.getElementById('backups-slot').replaceChildren(backupsTable(d, app));
}

// ---- notification channels ----

async function viewNotify() {
  const view = document.getElementById('view');
  const d = await api('/ui/notify');
  const act = (c, what) => async () => {
    try {
      await api(`/ui/notify/${encodeURIComponent(c.name)}/${what}`, {});
      toast(what === 'test' ? `Test delivered to ${c.name}` : `${c.name} removed`);
      if (what === 'delete') await viewNotify();
    } catch (e) { toast(e.message); }
  };
  const rows = d.channels.map(c => h('tr', {'data-channel': c.name},
    h('td', {}, c.name), h('td', {}, c.kind), h('td', {class: 'mono'}, c.url), h('td', {}, c.to || '–'),
    h('td', {}, c.app || 'every app'), h('td', {}, c.on),
    h('td', {}, `${c.sent} sent · ${c.pending} pending`), h('td', {class: c.dead ? 'error' : ''}, c.dead),
    h('td', {}, h('button', {class: 'link inline', on: {click: act(c, 'test')}}, 'Test'), ' ',
      h('button', {class: 'link inline', on: {click: act(c, 'delete')}}, 'Remove'))));
  const field = (label, id, attrs) => h('label', {}, label, h('input', Object.assign({id}, attrs || {})));
  const kind = h('select', {id: 'channel-kind'}, ['slack', 'email', 'ntfy', 'webhook'].map(k => h('option', {value: k}, k)));
  const form = h('form', {id: 'add-channel', class: 'row'},
    field('Name', 'channel-name', {required: true, pattern: '[A-Za-z0-9_.\\-]{1,64}', placeholder: 'ops-slack'}),
    h('label', {}, 'Kind', kind),
    field('URL', 'channel-url', {required: true, placeholder: 'https://hooks.slack.com/services/…'}),
    field('To (email)', 'channel-to', {placeholder: 'ops@example.com'}),
    field('App (empty: every app)', 'channel-app', {}),
    field('Events', 'channel-on', {value: 'failure,stale,size,drill,storage'}),
    h('button', {type: 'submit'}, 'Add channel'));
  const slot = h('div', {id: 'new-channel'});
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const v = id => document.getElementById(id).value.trim() || undefined;
    try {
      const r = await api('/ui/notify', {name: v('channel-name'), kind: kind.value, url: v('channel-url'),
        to: v('channel-to'), app: v('channel-app'), on: v('channel-on')});
      await viewNotify();
      if (r.secret) {
        document.getElementById('new-channel').replaceChildren(h('section', {class: 'card notice'},
          h('h2', {}, `Webhook "${r.name}" added`),
          h('p', {}, 'Its signing secret is shown only this once: requests carry X-Dumper-Signature: ' +
            'sha256=HMAC-SHA256(secret, timestamp + "." + body).'),
          h('div', {class: 'key mono', id: 'channel-secret'}, r.secret)));
      } else {
        toast(`${r.name} added`);
      }
    } catch (e) { toast(e.message); }
  });
  view.replaceChildren(
    h('section', {class: 'card'}, h('h1', {}, 'Notification channels'),
      d.channels.length ? null : h('p', {class: 'muted'}, 'No channel yet: failures and stale databases reach nobody.'),
      h('div', {class: 'table-wrap'}, h('table', {id: 'channels'},
        h('thead', {}, h('tr', {}, ['Name', 'Kind', 'URL', 'To', 'App', 'Events', 'Deliveries', 'Dead', ''].map(t => h('th', {}, t)))),
        h('tbody', {}, rows)))),
    h('section', {class: 'card'}, h('h2', {}, 'Add a channel'), form, slot));
}

// ---- destinations (docs/dumperd.md "Destinations", docs/dashboard.md) ----

// A backup's copies in the other destinations: name and state (pending, good, failed, deleted), the error as a title.
function copiesCell(cs) {
  return h('td', {class: 'copies small'}, cs.length ? cs.map(c => h('div', {'data-storage': c.storage, 'data-state': c.state,
    title: c.error || `updated ${when(c.updated_at)}, ${c.attempts} attempt(s)`},
    c.storage + ' ', h('span', {class: 'status ' + c.state}, c.state))) : '–');
}

async function viewStorage() {
  const view = document.getElementById('view');
  const d = await api('/ui/storage');
  const ret = r => ['keep_last', 'daily', 'weekly', 'monthly'].filter(k => r[k]).map(k => `${k.replace('_', ' ')} ${r[k]}`).join(', ') || 'keep all';
  const rows = d.storages.map(s => {
    const btn = h('button', {class: 'danger remove-storage', 'data-name': s.name}, 'Remove');
    btn.addEventListener('click', async () => {
      if (!confirm(`Remove destination "${s.name}"? Backups are no longer copied there; the copies stored there stay in place.`)) return;
      try { await api(`/ui/storage/${encodeURIComponent(s.name)}/delete`, {}); toast(`${s.name} removed`); await viewStorage(); } catch (e) { toast(e.message); }
    });
    return h('tr', {'data-storage': s.name}, h('td', {}, s.name), h('td', {class: 'mono wrap'}, s.location),
      h('td', {class: 'small'}, s.kind === 's3' ? `${s.endpoint || 'AWS'}${s.region ? ' · ' + s.region : ''} · ${s.addressing}` : 'directory'),
      h('td', {}, s.kind === 's3' ? (s.credentials === 'file' ? 'credentials file' : 'dumperd environment') : '–'),
      h('td', {}, ret(s.retention)),
      h('td', {}, s.object_lock ? `${s.object_lock.mode}, ${s.object_lock.days} days` : '–'),
      h('td', {}, `${s.copies.good} good · ${s.copies.pending} pending · `, h('span', {class: s.copies.failed ? 'error' : ''}, `${s.copies.failed} failed`)),
      h('td', {}, btn));
  });
  const field = (label, id, attrs) => h('label', {}, label, h('input', Object.assign({id}, attrs || {})));
  const num = (label, id) => field(label, id, {type: 'number', min: 0, max: 100000, value: 0});
  const addressing = h('select', {id: 'storage-addressing'}, ['auto', 'path', 'virtual'].map(k => h('option', {value: k}, k)));
  const lock = h('select', {id: 'storage-lock-mode'}, h('option', {value: ''}, 'none'), ['governance', 'compliance'].map(k => h('option', {value: k}, k)));
  const form = h('form', {id: 'add-storage', class: 'row'},
    field('Name', 'storage-name', {required: true, pattern: '[A-Za-z0-9_.\\-]{1,64}', placeholder: 'offsite'}),
    field('Location (directory or s3://bucket/prefix)', 'storage-location', {required: true, placeholder: 's3://backups/dumper'}),
    field('S3 endpoint', 'storage-endpoint', {placeholder: 'https://s3.example.com'}),
    field('S3 region', 'storage-region', {placeholder: 'us-east-1'}),
    h('label', {}, 'S3 addressing', addressing),
    field('S3 credentials file on the dumperd host (empty: its environment)', 'storage-credentials', {placeholder: '/etc/dumper/offsite.env'}),
    num('Keep last', 'storage-keep-last'), num('Daily', 'storage-daily'), num('Weekly', 'storage-weekly'), num('Monthly', 'storage-monthly'),
    h('label', {}, 'Object Lock', lock),
    field('Object Lock days', 'storage-lock-days', {type: 'number', min: 1, max: 36500}),
    h('button', {type: 'submit', id: 'add-storage-button'}, 'Add destination'));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const v = id => document.getElementById(id).value.trim() || null;
    const n = id => Number(document.getElementById(id).value || 0);
    try {
      const r = await api('/ui/storage', {name: v('storage-name'), location: v('storage-location'), endpoint: v('storage-endpoint'),
        region: v('storage-region'), addressing: addressing.value, credentials_file: v('storage-credentials'),
        keep_last: n('storage-keep-last'), daily: n('storage-daily'), weekly: n('storage-weekly'), monthly: n('storage-monthly'),
        object_lock_mode: lock.value || null, object_lock_days: lock.value ? n('storage-lock-days') : null});
      toast(`${r.name} added: new good backups are copied to it (existing ones: dumperd storage sync ${r.name})`);
      await viewStorage();
    } catch (e) { toast(e.message); }
  });
  view.replaceChildren(
    h('section', {class: 'card'}, h('h1', {}, 'Destinations'),
      h('p', {class: 'muted small'}, `Jobs upload to the first destination (${d.first}); dumperd copies each good backup to every destination below, checksum-verified, and applies each one's retention. Secrets are never shown or stored: a credentials file is read on the dumperd host at each use.`),
      d.storages.length ? null : h('p', {class: 'muted', id: 'no-storages'}, 'No other destination: backups live in one place only.'),
      h('div', {class: 'table-wrap'}, h('table', {id: 'storages'},
        h('thead', {}, h('tr', {}, ['Name', 'Location', 'Service', 'Credentials', 'Retention', 'Object Lock', 'Copies', ''].map(t => h('th', {}, t)))),
        h('tbody', {}, rows)))),
    h('section', {class: 'card'}, h('h2', {}, 'Add a destination'), form));
}

// ---- API tokens (docs/api.md) ----

async function viewTokens() {
  const view = document.getElementById('view');
  const [d, apps] = await Promise.all([api('/ui/tokens'), api('/ui/apps')]);
  const rows = d.tokens.map(t => {
    const btn = t.state === 'live' ? h('button', {class: 'danger revoke-token', 'data-name': t.name}, 'Revoke') : null;
    if (btn) btn.addEventListener('click', async () => {
      if (!confirm(`Revoke token "${t.name}"? It is refused at once.`)) return;
      try { await api(`/ui/tokens/${t.id}/revoke`, {}); toast(`Token "${t.name}" revoked`); viewTokens(); } catch (e) { toast(e.message); }
    });
    return h('tr', {}, h('td', {}, t.name), h('td', {}, t.scope), h('td', {}, t.app || 'every app'),
      h('td', {class: t.state === 'live' ? '' : 'muted'}, t.state), h('td', {}, when(t.created_at)),
      h('td', {}, t.expires_at ? when(t.expires_at) : 'never'), h('td', {}, ago(t.last_used_at)), h('td', {}, btn));
  });
  const scope = h('select', {id: 'token-scope'}, ['read', 'write', 'admin'].map(s => h('option', {}, s)));
  const app = h('select', {id: 'token-app'}, h('option', {value: ''}, 'every app'),
    apps.apps.map(a => h('option', {value: a.name}, a.name)));
  const form = h('form', {id: 'create-token', class: 'row'},
    h('label', {}, 'Name', h('input', {id: 'token-name', required: true, pattern: '[A-Za-z0-9_.\\-]{1,64}', placeholder: 'ci'})),
    h('label', {}, 'Scope', scope), h('label', {}, 'App', app),
    h('label', {}, 'Expires after (days, 0: never)', h('input', {id: 'token-days', type: 'number', min: 0, max: 3650, value: 90})),
    h('button', {type: 'submit', id: 'create-token-button'}, 'Create token'));
  const slot = h('div', {id: 'new-token'});
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    try {
      const r = await api('/ui/tokens', {name: document.getElementById('token-name').value, scope: scope.value,
        app: app.value || null, expires_days: Number(document.getElementById('token-days').value || 0)});
      await viewTokens();
      document.getElementById('new-token').replaceChildren(h('section', {class: 'card notice'},
        h('h2', {}, `Token "${r.name}" created`),
        h('p', {}, 'It is shown only this once; dumperd stores only a hash of it.'),
        h('div', {class: 'key mono', id: 'token-value'}, r.token),
        h('pre', {}, `curl -H "Authorization: Bearer ${r.token}" ${location.origin}/api/v1/apps`)));
    } catch (e) { toast(e.message); }
  });
  view.replaceChildren(
    h('section', {class: 'card'}, h('h1', {}, 'API tokens'),
      h('p', {class: 'muted small'}, 'For scripts and CI: the REST API under /api/v1/apps (docs/api.md). read lists and downloads, write also triggers backups and sets schedules and retention, admin also creates apps.'),
      d.tokens.length ? null : h('p', {class: 'muted', id: 'no-tokens'}, 'No token yet.'),
      h('div', {class: 'table-wrap'}, h('table', {id: 'tokens'},
        h('thead', {}, h('tr', {}, ['Name', 'Scope', 'App', 'State', 'Created', 'Expires', 'Last used', ''].map(x => h('th', {}, x)))),
        h('tbody', {}, rows)))),
    h('section', {class: 'card'}, h('h2', {}, 'Create a token'), form, slot));
}

async function route() {
  clearInterval(timer);
  const m = location.hash.match(/^#\/app\/(\d+)$/);
  try {
    if (location.hash === '#/notify') {
      await viewNotify();
    } else if (location.hash === '#/tokens') {
      await viewTokens();
    } else if (location.hash === '#/storage') {
      await viewStorage();
    } else if (m) {
      await load(m[1], true);
      timer = setInterval(() => load(m[1], false).catch(e => toast(e.message)), 3000);
    } else {
      await viewApps();
    }
  } catch (e) {
    document.getElementById('view').replaceChildren(h('p', {class: 'error'}, e.message));
  }
}

document.getElementById('logout').addEventListener('click', async () => {
  clearInterval(timer);
  try { await api('/ui/logout', {}); } catch (e) { /* gone anyway */ }
  if (!leaving) { leaving = true; location.href = '/login.html'; }
});

(async () => {
  try {
    const me = await api('/ui/me');
    csrf = me.csrf;
    document.getElementById('whoami').textContent = me.user;
  } catch (e) { return; }
  window.addEventListener('hashchange', route);
  route();
})();
