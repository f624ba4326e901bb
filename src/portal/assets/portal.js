// The API-key portal. Every value from the server is put into the page as
// text (textContent), never parsed as HTML.
'use strict';

const CREDENTIAL = 'm2m-auth-portal-credential';
const $ = (id) => document.getElementById(id);

function credential() {
  return sessionStorage.getItem(CREDENTIAL);
}

function say(text, isError) {
  const m = $('message');
  m.textContent = text;
  m.className = isError ? 'error' : '';
}

async function api(method, path, body) {
  const headers = { Authorization: 'Bearer ' + credential() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  const text = await res.text();
  const data = text ? JSON.parse(text) : null;
  if (!res.ok) {
    const why = data && data.detail ? data.detail : res.statusText;
    const err = new Error(why);
    err.status = res.status;
    throw err;
  }
  return data;
}

function when(seconds) {
  if (seconds === null || seconds === undefined) return 'never';
  return new Date(seconds * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function showSecret(key) {
  $('secret-value').textContent = key;
  $('secret').hidden = false;
  $('secret').scrollIntoView();
}

function row(key) {
  const tr = $('row-template').content.firstElementChild.cloneNode(true);
  tr.dataset.id = key.id;
  tr.querySelector('.name').textContent = key.name || '(no name)';
  tr.querySelector('.hint').textContent = key.hint;
  tr.querySelector('.scopes').textContent = key.scopes.join(' ') || '-';
  tr.querySelector('.created').textContent = when(key.created_at);
  tr.querySelector('.expires').textContent = when(key.expires_at);
  const status = tr.querySelector('.status');
  status.textContent = key.status;
  status.classList.add('status-' + key.status);
  const usable = key.status === 'active' || key.status === 'disabled';
  const roll = tr.querySelector('.roll');
  const revoke = tr.querySelector('.revoke');
  const grace = tr.querySelector('.grace');
  if (!usable) {
    roll.hidden = true;
    grace.hidden = true;
  }
  if (key.status === 'revoked') revoke.hidden = true;
  roll.addEventListener('click', async () => {
    try {
      const created = await api('POST', 'api/keys/' + encodeURIComponent(key.id) + '/roll', {
        grace_seconds: Number(grace.value),
      });
      showSecret(created.key);
      say('Rolled "' + (key.name || key.id) + '".');
      await refresh();
    } catch (e) {
      say('Could not roll the key: ' + e.message, true);
    }
  });
  revoke.addEventListener('click', async () => {
    if (!window.confirm('Revoke "' + (key.name || key.id) + '"? It stops working at once, for good.')) return;
    try {
      await api('POST', 'api/keys/' + encodeURIComponent(key.id) + '/revoke');
      say('Revoked "' + (key.name || key.id) + '".');
      await refresh();
    } catch (e) {
      say('Could not revoke the key: ' + e.message, true);
    }
  });
  return tr;
}

async function refresh() {
  const rows = $('key-rows');
  const keys = [];
  let after = null;
  do {
    const page = await api('GET', 'api/keys?limit=100' + (after ? '&after=' + encodeURIComponent(after) : ''));
    keys.push(...page.keys);
    after = page.next;
  } while (after);
  rows.replaceChildren(...keys.map(row));
  $('no-keys').hidden = keys.length > 0;
}

async function signedIn() {
  const me = await api('GET', 'api/me');
  const scopes = await api('GET', 'api/scopes');
  const box = $('new-scopes');
  box.querySelectorAll('label').forEach((l) => l.remove());
  for (const s of scopes) {
    const label = document.createElement('label');
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.name = 'scope';
    input.value = s;
    label.append(input, document.createTextNode(s));
    box.append(label);
  }
  $('sign-in').hidden = true;
  $('create').hidden = false;
  $('keys').hidden = false;
  $('sign-out').hidden = false;
  $('whoami').textContent = 'Signed in as ' + me.owner;
  await refresh();
}

async function start() {
  $('sign-in-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    sessionStorage.setItem(CREDENTIAL, $('credential').value.trim());
    $('credential').value = '';
    try {
      await signedIn();
      say('');
    } catch (e) {
      sessionStorage.removeItem(CREDENTIAL);
      say(e.status === 401 ? 'That key was not accepted.' : 'Sign-in failed: ' + e.message, true);
    }
  });
  $('sign-out').addEventListener('click', () => {
    sessionStorage.removeItem(CREDENTIAL);
    window.location.reload();
  });
  $('create-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.target;
    const scopes = [...form.querySelectorAll('input[name=scope]:checked')].map((i) => i.value);
    const expiry = $('new-expiry').value;
    const body = { name: $('new-name').value, scopes };
    if (expiry) body.expires_at = Math.floor(Date.now() / 1000) + Number(expiry);
    try {
      const created = await api('POST', 'api/keys', body);
      showSecret(created.key);
      say('Created "' + (created.record.name || created.record.id) + '".');
      form.reset();
      await refresh();
    } catch (e) {
      say('Could not create the key: ' + e.message, true);
    }
  });
  $('copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('secret-value').textContent);
      say('Copied.');
    } catch (e) {
      say('Copy failed; select the key and copy it by hand.', true);
    }
  });
  $('secret-done').addEventListener('click', () => {
    $('secret-value').textContent = '';
    $('secret').hidden = true;
  });
  if (credential()) {
    try {
      await signedIn();
    } catch (e) {
      sessionStorage.removeItem(CREDENTIAL);
    }
  }
}

start();
