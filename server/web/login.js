// login.js - the login form: POST /ui/login, then on to the dashboard.
'use strict';
document.getElementById('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = document.getElementById('login-error');
  err.hidden = true;
  try {
    const r = await fetch('/ui/login', {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      credentials: 'same-origin',
      body: JSON.stringify({user: document.getElementById('user').value,
                            password: document.getElementById('password').value}),
    });
    if (r.ok) { location.href = '/'; return; }
    const j = await r.json().catch(() => ({}));
    err.textContent = j.message || ('login failed (' + r.status + ')');
  } catch (e) {
    err.textContent = 'dumperd is not reachable';
  }
  err.hidden = false;
});
