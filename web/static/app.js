// SPDX-License-Identifier: GPL-2.0-or-later
// The igdd household UI: plain JavaScript, no build step, no inline script (the server's CSP
// allows script-src 'self' only). It talks to the JSON API in /api/v1 (tests/CONTRACTS.md and
// web/api_web.h); every change carries the session's CSRF token in X-CSRF-Token.
'use strict';

(function () {
  const POLL_MS = 2000;
  const CHART_POINTS = 900;   // 30 minutes of polls
  const KIND_TEXT = {
    eui64: 'stable (from the hardware address)',
    stable: 'stable',
    temporary: 'temporary (privacy)',
    'link-local': 'link-local',
    ula: 'local only (ULA)',
    unknown: 'not yet known',
    ipv4: 'IPv4',
  };
  const ORIGIN_TEXT = { upnp: 'UPnP app', pcp: 'PCP app', 'pcp-peer': 'PCP app (one peer)', natpmp: 'NAT-PMP app', web: 'You (web)', ctl: 'Operator', static: 'Configuration' };

  const state = {
    csrf: null,
    rules: [],
    devices: [],
    devicesApi: true,       // false once GET /devices said 404: devices are derived from the rules
    history: new Map(),     // rule id -> [{t: unix seconds, p: packet count}] sampled at each poll
    settings: null,
    timer: null,
    page: null,
    renaming: null,         // MAC of the device whose name is being edited
    giving: null,           // id of the rule whose port is being given to another device
    blocking: null,         // MAC of the device whose apps are about to be blocked (asking to confirm)
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function showMessage(text) {
    const m = $('message');
    m.textContent = text || '';
    m.hidden = !text;
  }

  // ---------- API ----------

  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.error && body.error.message) || ('HTTP ' + status));
      this.status = status;
      this.code = body && body.error && body.error.code;
    }
  }

  async function api(method, path, body) {
    const opts = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET' && state.csrf) opts.headers['X-CSRF-Token'] = state.csrf;
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    const r = await fetch('/api/v1' + path, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (r.status === 401 && path !== '/login') {
      loggedOut();
      throw new ApiError(401, data);
    }
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }

  // ---------- formatting ----------

  function duration(s) {
    if (s === null || s === undefined) return 'no expiry';
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    const m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (d) return d + 'd ' + h + 'h';
    if (h) return h + 'h ' + String(m).padStart(2, '0') + 'm';
    if (m) return m + 'm ' + String(sec).padStart(2, '0') + 's';
    return sec + 's';
  }

  function kindText(k) { return KIND_TEXT[k] || k || ''; }

  function isV4(a) { return typeof a === 'string' && a.indexOf(':') < 0; }

  // "2001:db8::5" -> eight 16-bit numbers (null if it is not an IPv6 literal)
  function v6groups(a) {
    if (typeof a !== 'string' || a.indexOf(':') < 0 || a.indexOf('.') >= 0) return null;
    const [head, tail] = a.split('::');
    const h = head ? head.split(':') : [], t = tail !== undefined && tail ? tail.split(':') : [];
    if (a.indexOf('::') < 0 && h.length !== 8) return null;
    const g = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map((x) => parseInt(x, 16));
    return g.length === 8 && g.every((x) => x >= 0 && x <= 0xffff) ? g : null;
  }

  // What the address alone tells (the daemon's device table knows more: stable opaque, temporary).
  function guessKind(a) {
    const g = v6groups(a);
    if (!g) return isV4(a) ? 'ipv4' : 'unknown';
    if ((g[0] & 0xffc0) === 0xfe80) return 'link-local';
    if ((g[0] & 0xfe00) === 0xfc00) return 'ula';
    if ((g[5] & 0xff) === 0xff && (g[6] >> 8) === 0xfe) return 'eui64';
    return 'unknown';
  }

  // The MAC inside an EUI-64 interface identifier (universal/local bit flipped back).
  function macFromEui64(a) {
    const g = v6groups(a);
    if (!g || guessKind(a) !== 'eui64') return null;
    const b = [(g[4] >> 8) ^ 2, g[4] & 0xff, g[5] >> 8, g[6] & 0xff, g[7] >> 8, g[7] & 0xff];
    return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
  }

  // ---------- devices ----------

  function normAddr(a) {
    if (typeof a === 'string') return { address: a, kind: isV4(a) ? 'ipv4' : 'unknown' };
    return { address: a.address || a.addr || '', kind: a.kind || (isV4(a.address || '') ? 'ipv4' : 'unknown'), last_seen: a.last_seen };
  }

  function stableOf(addrs) {
    const order = ['eui64', 'stable'];
    for (const k of order) {
      const hit = addrs.find((a) => a.kind === k && !isV4(a.address) && !/^f[cd]/i.test(a.address));
      if (hit) return hit.address;
    }
    for (const k of order) {
      const hit = addrs.find((a) => a.kind === k && !isV4(a.address));
      if (hit) return hit.address;
    }
    return null;
  }

  function deviceFromApi(d) {
    const addrs = (d.addresses || []).map(normAddr);
    if (d.ipv4 && !addrs.some((a) => a.address === d.ipv4)) addrs.push({ address: d.ipv4, kind: 'ipv4' });
    return {
      key: d.mac || (addrs[0] && addrs[0].address) || '?',
      mac: d.mac || null,
      name: d.shown_name || d.name || '',   // the household's name first, else DHCP's, else mDNS's
      own_name: d.name || '',               // what the household gave (the rename form edits it)
      name_source: d.name_source || (d.name ? 'household' : ''),
      names: d.names || [],
      apps: d.apps !== false,   // may apps on it open ports (UPnP, PCP); absent in older daemons: yes
      last_seen: d.last_seen,
      addresses: addrs,
      stable: d.stable || stableOf(addrs),
      v4: (addrs.find((a) => isV4(a.address)) || {}).address || null,
    };
  }

  // Without the devices API: one device per MAC (or per address) seen in the rules' targets.
  function devicesFromRules(rules) {
    const map = new Map();
    for (const r of rules) {
      const t = r.target || {};
      const mac = t.mac || macFromEui64(t.exact) || macFromEui64(r.address);
      const key = mac || r.address || '?';
      if (!map.has(key)) map.set(key, { key, mac, name: '', addresses: [], stable: null, v4: null });
      const d = map.get(key);
      const add = (address, kind) => {
        if (!kind || kind === 'unknown') kind = guessKind(address);
        if (address && !d.addresses.some((a) => a.address === address)) d.addresses.push({ address, kind });
      };
      if (t.exact) add(t.exact, isV4(t.exact) ? 'ipv4' : t.exact_kind);
      if (t.stable) add(t.stable, 'stable');
      if (!t.exact && r.address) add(r.address, isV4(r.address) ? 'ipv4' : 'unknown');
    }
    for (const d of map.values()) {
      d.stable = stableOf(d.addresses);
      d.v4 = (d.addresses.find((a) => isV4(a.address)) || {}).address || null;
    }
    return [...map.values()];
  }

  async function loadDevices() {
    if (state.devicesApi) {
      try {
        const data = await api('GET', '/devices');
        state.devices = (data.devices || []).map(deviceFromApi);
        return;
      } catch (e) {
        if (e.status !== 404) throw e;
        state.devicesApi = false;
      }
    }
    state.devices = devicesFromRules(state.rules);
  }

  function deviceLabel(d) {
    return d.name || d.mac || (d.addresses[0] && d.addresses[0].address) || 'unknown device';
  }

  function deviceForRule(r) {
    const t = r.target || {};
    const mac = t.mac || macFromEui64(t.exact) || macFromEui64(r.address);
    return state.devices.find((d) => (mac && d.mac === mac) ||
      d.addresses.some((a) => a.address === r.address || a.address === t.exact || a.address === t.stable));
  }

  function renderDevices() {
    const list = $('devices-list');
    const note = $('devices-note');
    note.hidden = state.devicesApi;
    note.textContent = state.devicesApi ? '' :
      'This igdd does not list LAN devices yet: shown here are the devices your rules point at.';
    list.replaceChildren();
    if (!state.devices.length) {
      list.append(el('p', { class: 'note', text: 'No devices seen yet.' }));
      return;
    }
    for (const d of state.devices) {
      const rules = state.rules.filter((r) => deviceForRule(r) === d);
      const addrs = el('ul', { class: 'addrs', 'aria-label': 'Addresses of ' + deviceLabel(d) });
      for (const a of d.addresses) {
        addrs.append(el('li', {},
          el('code', { class: 'addr', text: a.address }), ' ',
          el('span', { class: 'kind kind-' + a.kind, text: kindText(a.kind) }),
          a.last_seen ? el('span', { class: 'seen', text: ' seen ' + new Date(a.last_seen * 1000).toLocaleString() }) : null));
      }
      const card = el('article', { class: 'card device', 'data-mac': d.mac || '', 'aria-label': 'Device ' + deviceLabel(d) },
        el('h3', { text: deviceLabel(d) }),
        nameSources(d),
        d.mac ? el('p', { class: 'mac' }, 'MAC ', el('code', { text: d.mac })) : null,
        d.mac && state.devicesApi ? renameControl(d) : null,
        d.mac && state.devicesApi ? appsControl(d, rules) : null,
        addrs,
        el('p', { class: 'rules-count', text: rules.length === 1 ? '1 open port' : rules.length + ' open ports' }),
        el('a', { href: '#add', class: 'button', 'data-device': d.key, onclick: () => { state.preselect = d.key; } },
          'Open a port for this device'));
      list.append(card);
    }
  }

  const SOURCE_TEXT = { household: 'named by you', dhcp: 'from its DHCP request', mdns: 'from its mDNS announcement' };
  const SOURCE_SHORT = { household: 'by you', dhcp: 'from DHCP', mdns: 'from mDNS' };

  // Where the shown name came from, and the other names the router knows it by (text only: names
  // come from the LAN and are shown with textContent, never as markup).
  function nameSources(d) {
    if (!d.name_source) return null;
    const others = d.names.filter((n) => n.source !== d.name_source);
    return el('p', { class: 'name-source' },
      el('span', { class: 'source source-' + d.name_source, text: SOURCE_TEXT[d.name_source] || d.name_source }),
      others.length ? el('span', { class: 'also', text: ' · also known as ' +
        others.map((n) => '“' + n.name + '” (' + (SOURCE_SHORT[n.source] || n.source) + ')').join(', ') }) : null);
  }

  // ---------- naming a device ----------
  // One card at a time shows the form; polling does not redraw the page meanwhile (typing survives).

  function cardOf(mac) {
    return document.querySelector('#devices-list article.device[data-mac="' + mac + '"]');
  }

  function renameControl(d) {
    if (state.renaming !== d.mac) {
      return el('button', { type: 'button', class: 'secondary', 'data-action': 'rename',
        'aria-label': 'Rename ' + deviceLabel(d), onclick: () => openRename(d.mac) }, 'Rename');
    }
    const id = 'name-' + d.mac.replace(/:/g, '');
    const input = el('input', { id, name: 'name', value: d.own_name || '', placeholder: d.name || '', maxlength: '63', autocomplete: 'off',
      'aria-describedby': id + '-help' });
    const form = el('form', { class: 'rename-form', onsubmit: (ev) => { ev.preventDefault(); saveName(d.mac, input.value, form); } },
      el('label', { for: id, text: 'Name' }),
      input,
      el('p', { id: id + '-help', class: 'help', text: 'Enter saves, Escape cancels. An empty name shows the MAC again.' }),
      el('button', { type: 'submit' }, 'Save'), ' ',
      el('button', { type: 'button', class: 'secondary', onclick: () => closeRename(d.mac) }, 'Cancel'),
      el('p', { class: 'error', role: 'alert', hidden: true }));
    form.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') { ev.preventDefault(); closeRename(d.mac); }
    });
    return form;
  }

  function openRename(mac) {
    state.renaming = mac;
    renderDevices();
    const input = cardOf(mac) && cardOf(mac).querySelector('input[name="name"]');
    if (input) { input.focus(); input.select(); }
  }

  // Back to the card's Rename button, so keyboard users keep their place.
  function closeRename(mac) {
    state.renaming = null;
    renderDevices();
    const button = cardOf(mac) && cardOf(mac).querySelector('button[data-action="rename"]');
    if (button) button.focus();
  }

  async function saveName(mac, value, form) {
    const name = value.trim();
    try {
      await api('PUT', '/devices/' + mac, { name });
      await loadDevices();
      $('devices-result').textContent = name ? 'Saved: ' + mac + ' is now called “' + name + '”.' : 'Saved: ' + mac + ' has no name now.';
      closeRename(mac);
    } catch (e) {
      const err = form.querySelector('.error');
      err.textContent = 'Not saved: ' + e.message;
      err.hidden = false;
    }
  }

  // ---------- may apps on a device open ports ----------
  // Unticking asks first, in the card (the app-made rules go at once); ticking saves at once.

  const APP_ORIGINS = ['upnp', 'pcp', 'pcp-peer', 'natpmp'];

  function appsControl(d, rules) {
    const id = 'apps-' + d.mac.replace(/:/g, '');
    const box = el('input', { type: 'checkbox', id, 'data-action': 'apps', checked: d.apps && state.blocking !== d.mac,
      onchange: () => (box.checked ? saveApps(d.mac, true) : openBlock(d.mac)) });
    const wrap = el('div', { class: 'apps' },
      el('label', { class: 'inline', for: id }, box, ' Apps on this device may open ports (UPnP, PCP)'));
    if (state.blocking !== d.mac) return wrap;
    const n = rules.filter((r) => APP_ORIGINS.includes(r.origin)).length;
    const panel = el('div', { class: 'confirm', role: 'group', 'aria-labelledby': id + '-q' },
      el('p', { id: id + '-q', text: 'Stop apps on ' + deviceLabel(d) + ' from opening ports? ' +
        (n === 1 ? 'The 1 port opening its apps made will be removed now.' :
          'The ' + n + ' port openings its apps made will be removed now.') +
        ' Ports you opened by hand stay open.' }),
      el('button', { type: 'button', class: 'danger', 'data-action': 'confirm-block', onclick: () => saveApps(d.mac, false) }, 'Block apps'), ' ',
      el('button', { type: 'button', class: 'secondary', onclick: () => closeBlock(d.mac) }, 'Cancel'),
      el('p', { class: 'error', role: 'alert', hidden: true }));
    panel.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') { ev.preventDefault(); closeBlock(d.mac); }
    });
    wrap.append(panel);
    return wrap;
  }

  function openBlock(mac) {
    state.blocking = mac;
    renderDevices();
    const button = cardOf(mac) && cardOf(mac).querySelector('button[data-action="confirm-block"]');
    if (button) button.focus();
  }

  // Back to the card's switch, so keyboard users keep their place.
  function closeBlock(mac) {
    state.blocking = null;
    renderDevices();
    const box = cardOf(mac) && cardOf(mac).querySelector('input[data-action="apps"]');
    if (box) box.focus();
  }

  async function saveApps(mac, apps) {
    try {
      const res = await api('PUT', '/devices/' + mac, { apps });
      const removed = res.removed || 0;
      await poll();   // the rules and the devices as they are now (the card's count of open ports)
      $('devices-result').textContent = apps ? 'Saved: apps on ' + mac + ' may open ports.' :
        'Saved: apps on ' + mac + ' may not open ports; ' + (removed === 1 ? '1 port opening' : removed + ' port openings') + ' removed.';
      closeBlock(mac);
    } catch (e) {
      const card = cardOf(mac);
      const err = card && card.querySelector('.apps .error');
      if (err) { err.textContent = 'Not saved: ' + e.message; err.hidden = false; } else showMessage('Not saved: ' + e.message);
    }
  }

  // ---------- rules ----------

  // Packets over the lease: x from when the lease began (or since this page watched) to when it ends,
  // y the packets admitted so far; a dot where the last connection came in. SVG, no library.
  function packetChart(r) {
    const ns = 'http://www.w3.org/2000/svg';
    const W = 120, H = 32;
    const pts = state.history.get(r.id) || [];
    const now = pts.length ? pts[pts.length - 1].t : Date.now() / 1000;
    const end = r.expires ? Math.max(r.expires, now) : now;
    let start = r.expires && r.lease ? r.expires - r.lease : (pts.length ? pts[0].t : now - 60);
    if (pts.length && pts[0].t < start) start = pts[0].t;
    const span = Math.max(1, end - start);
    const max = Math.max(1, ...pts.map((q) => q.p));
    const x = (t) => ((t - start) / span) * (W - 2) + 1;
    const y = (p) => H - 2 - (p / max) * (H - 4);
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'chart');
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
    svg.setAttribute('width', String(W));
    svg.setAttribute('height', String(H));
    svg.setAttribute('role', 'img');
    svg.setAttribute('data-points', String(pts.length));
    const last = r.last_packet ? new Date(r.last_packet * 1000) : null;
    svg.setAttribute('aria-label', (r.packets || 0) + ' packets over the lease' +
      (last ? '; last connection admitted at ' + last.toLocaleTimeString() : '; no connection yet'));
    const axis = document.createElementNS(ns, 'path');
    axis.setAttribute('d', 'M1 ' + (H - 1) + ' H' + (W - 1));
    axis.setAttribute('class', 'axis');
    svg.append(axis);
    if (r.expires && now < end) {   // where the lease stands now: the rest of it is still to come
      const tick = document.createElementNS(ns, 'path');
      tick.setAttribute('d', 'M' + x(now).toFixed(1) + ' ' + (H - 5) + ' V' + (H - 1));
      tick.setAttribute('class', 'now');
      svg.append(tick);
    }
    if (pts.length) {
      const d = pts.map((q, i) => (i ? 'L' : 'M') + x(q.t).toFixed(1) + ' ' + y(q.p).toFixed(1)).join(' ');
      const line = document.createElementNS(ns, 'path');
      line.setAttribute('d', d);
      line.setAttribute('class', 'line');
      svg.append(line);
    }
    if (r.last_packet && r.last_packet >= start) {
      const dot = document.createElementNS(ns, 'circle');
      dot.setAttribute('cx', x(r.last_packet).toFixed(1));
      dot.setAttribute('cy', y(r.packets || 0).toFixed(1));
      dot.setAttribute('r', '2.5');
      dot.setAttribute('class', 'last');
      svg.append(dot);
    }
    const title = document.createElementNS(ns, 'title');
    title.textContent = svg.getAttribute('aria-label');
    svg.append(title);
    return el('span', { class: 'packets-cell' }, svg, el('br'),
      el('small', { class: 'last-packet', text: last ? 'last connection ' + last.toLocaleTimeString() : 'no connection yet' }));
  }

  function ruleCells(r) {
    const dev = deviceForRule(r);
    const t = r.target || {};
    const origin = ORIGIN_TEXT[r.origin] || r.origin;
    const kind = r.kind === 'portmap' ? 'IPv4 port mapping' : 'IPv6 pinhole';
    const port = r.kind === 'portmap' ? (r.ext_port + ' → ' + r.port) : (r.port === 0 ? 'all' : String(r.port));
    let addrKind = t.exact_kind && r.address === t.exact ? t.exact_kind : (t.stable && r.address === t.stable ? 'stable' : '');
    if (!addrKind || addrKind === 'unknown') addrKind = guessKind(r.address);
    if (isV4(r.address) || addrKind === 'unknown') addrKind = '';
    const follows = t.subnet && t.stable ? ' (follows the device)' : '';
    const remote = r.remote ? r.remote + (r.remote_port ? ' port ' + r.remote_port : '') :
      (r.remote_port ? 'any, port ' + r.remote_port : 'anyone');
    return [
      el('td', { 'data-label': 'Added by' }, el('strong', { text: origin }), el('br'),
        el('span', { class: 'desc', text: r.description || '' }), el('br'), el('small', { text: kind + (r.state !== 'installed' ? ' · ' + r.state : '') })),
      el('td', { 'data-label': 'Device' }, dev ? el('span', { class: 'devname', text: deviceLabel(dev) }) : null,
        dev && dev.name_source && dev.name_source !== 'household' ? el('small', { class: 'source', text: ' (' + dev.name_source + ')' }) : null,
        dev ? el('br') : null,
        el('code', { class: 'addr', text: r.address || 'waiting for the device' }),
        addrKind ? el('span', { class: 'kind kind-' + addrKind, text: ' ' + kindText(addrKind) }) : null,
        follows ? el('small', { text: follows }) : null),
      el('td', { 'data-label': 'Protocol', text: String(r.proto).toUpperCase() }),
      el('td', { 'data-label': 'Port', text: port }),
      el('td', { 'data-label': 'Allowed from', text: remote }),
      el('td', { 'data-label': 'Time left', text: duration(r.expires_in) }),
      el('td', { 'data-label': 'Packets' }, el('span', { class: 'packets', text: String(r.packets || 0) }), ' ', packetChart(r)),
    ];
  }

  // A console asks for its one port and never another: the household gives the port to the device
  // that should have it (the core moves the rule; the old holder loses it).
  function giveControl(r, label) {
    const holder = deviceForRule(r);
    const others = state.devices.filter((d) => d.mac && d !== holder && (r.kind !== 'portmap' || d.v4));
    if (!state.devicesApi || !others.length) return null;
    if (state.giving !== r.id) {
      return el('button', { type: 'button', class: 'secondary', 'data-action': 'give', 'aria-label': 'Give ' + label + ' to another device',
        onclick: () => { state.giving = r.id; renderRules(); } }, 'Give to…');
    }
    const sel = el('select', { 'aria-label': 'Device to give ' + label + ' to', 'data-role': 'give-to' },
      ...others.map((d) => el('option', { value: d.mac, text: deviceLabel(d) })));
    return el('span', { class: 'give-form' }, sel, ' ',
      el('button', { type: 'button', 'data-action': 'give-confirm', onclick: () => giveRule(r.id, sel.value) }, 'Give'), ' ',
      el('button', { type: 'button', class: 'secondary', onclick: () => { state.giving = null; renderRules(); } }, 'Cancel'));
  }

  async function giveRule(id, mac) {
    try {
      const out = await api('POST', '/rules/' + id + '/give', { mac });
      state.giving = null;
      const d = state.devices.find((x) => x.mac === mac);
      showMessage('Port ' + (out.rule.ext_port || out.rule.port) + ' now goes to ' + (d ? deviceLabel(d) : mac) + '.');
      state.history.delete(id);
      await poll();
    } catch (e) { showMessage('Could not give the port: ' + e.message); }
  }

  function actionsCell(r) {
    const label = (r.description ? '“' + r.description + '” ' : '') + r.proto + ' ' + r.port;
    return el('td', { class: 'actions', 'data-label': 'Actions' }, giveControl(r, label),
      el('button', { type: 'button', class: 'secondary', 'data-action': 'extend', 'aria-label': 'Extend ' + label, onclick: () => extendRule(r.id) }, 'Extend'),
      el('button', { type: 'button', class: 'danger', 'data-action': 'delete', 'aria-label': 'Delete ' + label, onclick: () => deleteRule(r.id) }, 'Delete'));
  }

  // Keyed update: rows (and their buttons, which may hold keyboard focus) survive a poll.
  function renderRules() {
    const body = $('rules-body');
    const rows = new Map([...body.children].map((tr) => [tr.dataset.id, tr]));
    const seen = new Set();
    for (const r of state.rules) {
      const id = String(r.id);
      seen.add(id);
      let tr = rows.get(id);
      const giving = String(state.giving === r.id);
      if (!tr) {
        tr = el('tr', { 'data-id': id, 'data-giving': giving });
        tr.append(...ruleCells(r), actionsCell(r));
        body.append(tr);
      } else {
        const cells = ruleCells(r);
        cells.forEach((c, i) => tr.children[i].replaceWith(c));
        // the buttons stay (they may hold focus) unless the give form opened or closed
        if (tr.dataset.giving !== giving) {
          tr.dataset.giving = giving;
          tr.lastElementChild.replaceWith(actionsCell(r));
        }
      }
    }
    for (const [id, tr] of rows) if (!seen.has(id)) tr.remove();
    $('rules-empty').hidden = state.rules.length > 0;
    $('rules-table').hidden = state.rules.length === 0;
  }

  async function extendRule(id) {
    try {
      await api('POST', '/rules/' + id + '/refresh', { lease: 0 });
      showMessage('');
      await poll();
    } catch (e) { showMessage('Could not extend: ' + e.message); }
  }

  async function deleteRule(id) {
    try {
      await api('DELETE', '/rules/' + id);
      state.history.delete(id);
      showMessage('');
      await poll();
    } catch (e) { showMessage('Could not delete: ' + e.message); }
  }

  // ---------- status ----------

  function renderStatus(st) {
    const s = $('status');
    const parts = [];
    if (st.wan && st.wan.length) parts.push(['WAN', [].concat(st.wan).join(', ')]);
    if (st.prefixes && st.prefixes.length) parts.push(['Prefix', [].concat(st.prefixes).join(', ')]);
    if (st.delegated_prefix) parts.push(['Prefix', st.delegated_prefix]);
    if (st.upstream && st.upstream.server) parts.push(['Upstream PCP', st.upstream.server + (st.upstream.state ? ' (' + st.upstream.state + ')' : '')]);
    if (st.rules) {
      parts.push(['Pinholes', st.rules.pinholes]);
      parts.push(['Port mappings', st.rules.portmaps]);
      if (st.rules.pending) parts.push(['Waiting', st.rules.pending]);
    }
    if (st.firewall) parts.push(['Firewall', st.firewall.backend + (st.firewall.mode ? ' (' + st.firewall.mode + ')' : '')]);
    parts.push(['igdd', st.version]);
    s.replaceChildren(...parts.map(([k, v]) => el('span', { class: 'item' }, el('span', { class: 'k', text: k + ' ' }), el('span', { class: 'v', text: String(v) }))));
    s.hidden = false;
  }

  // ---------- polling ----------

  async function poll() {
    try {
      const [rules, st] = await Promise.all([api('GET', '/rules'), api('GET', '/status')]);
      state.rules = rules.rules || [];
      for (const r of state.rules) {
        const h = state.history.get(r.id) || [];
        h.push({ t: Date.now() / 1000, p: r.packets || 0 });
        while (h.length > CHART_POINTS) h.shift();
        state.history.set(r.id, h);
      }
      for (const id of [...state.history.keys()]) if (!state.rules.some((r) => r.id === id)) state.history.delete(id);
      renderStatus(st);
      // the rules page names devices too: a rename made elsewhere shows within a poll
      if (!state.devicesApi || state.page === 'devices' || state.page === 'rules' || !state.devices.length) await loadDevices();
      if (state.page === 'rules') renderRules();
      if (state.page === 'devices' && !state.renaming && !state.blocking) renderDevices();
    } catch (e) {
      if (e.status !== 401) showMessage('The router did not answer: ' + e.message);
    }
  }

  function startPolling() {
    stopPolling();
    poll();
    state.timer = setInterval(poll, POLL_MS);
  }

  function stopPolling() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  // ---------- add a rule by device ----------

  function fillDeviceSelect() {
    const sel = $('add-device');
    const prev = state.preselect || sel.value;
    sel.replaceChildren(el('option', { value: '', text: state.devices.length ? 'Choose a device…' : 'No devices known: type an address below' }));
    for (const d of state.devices) {
      const stable = d.stable ? ' — ' + d.stable : (d.v4 ? ' — ' + d.v4 : '');
      sel.append(el('option', { value: d.key, text: deviceLabel(d) + stable }));
    }
    if (prev && state.devices.some((d) => d.key === prev)) sel.value = prev;
    state.preselect = null;
    describeTarget();
  }

  function selectedDevice() {
    return state.devices.find((d) => d.key === $('add-device').value) || null;
  }

  function describeTarget() {
    const d = selectedDevice();
    const typed = $('add-address').value.trim();
    const help = $('add-device-help');
    const follow = $('add-follow');
    const v4row = $('add-v4-row');
    v4row.hidden = !(d && d.v4);
    if (d && d.stable) {
      help.textContent = 'The port opens to ' + deviceLabel(d) + "'s stable address " + d.stable + '.';
      follow.textContent = 'This opening follows the device: if your internet provider changes your network prefix, ' +
        'igdd moves it to ' + deviceLabel(d) + "'s new address by itself. You do not need to do anything.";
    } else if (d) {
      help.textContent = deviceLabel(d) + ' has no stable IPv6 address yet' + (d.v4 ? '; only IPv4 (' + d.v4 + ') can be forwarded.' : '.');
      follow.textContent = '';
    } else if (typed) {
      help.textContent = '';
      follow.textContent = 'The port opens to ' + typed + '. If that is the device\'s stable address, the opening follows the device when the network prefix changes.';
    } else {
      help.textContent = '';
      follow.textContent = '';
    }
  }

  function parsePorts(text) {
    const out = [];
    for (const part of text.split(/[\s,]+/).filter(Boolean)) {
      const m = /^(\d{1,5})(?:\s*-\s*(\d{1,5}))?$/.exec(part);
      if (!m) return null;
      const a = Number(m[1]), b = m[2] ? Number(m[2]) : a;
      if (a < 1 || b > 65535 || b < a) return null;
      for (let p = a; p <= b; p++) out.push(p);
      if (out.length > 16) return null;
    }
    return out.length ? out : null;
  }

  async function submitAdd(ev) {
    ev.preventDefault();
    const result = $('add-result');
    const d = selectedDevice();
    const typed = $('add-address').value.trim();
    const address = d ? d.stable : typed;
    const ports = parsePorts($('add-ports').value);
    const protoSel = document.querySelector('input[name="proto"]:checked').value;
    const protos = protoSel === 'both' ? ['tcp', 'udp'] : [protoSel];
    const desc = $('add-desc').value.trim() || undefined;
    const v4 = d && d.v4 && $('add-v4').checked ? d.v4 : null;
    if (!ports) { result.textContent = 'Please give one to 16 ports between 1 and 65535.'; $('add-ports').focus(); return; }
    if (!address && !v4) { result.textContent = 'Please choose a device or type its IPv6 address.'; $('add-device').focus(); return; }
    const made = [], failed = [];
    for (const proto of protos) {
      for (const port of ports) {
        const reqs = [];
        if (address) reqs.push({ kind: 'pinhole', address, proto, port, description: desc });
        if (v4) reqs.push({ kind: 'portmap', address: v4, ext_port: port, proto, port, description: desc });
        for (const body of reqs) {
          try {
            const r = await api('POST', '/rules', body);
            made.push(r.rule);
          } catch (e) {
            failed.push(proto.toUpperCase() + ' ' + port + (body.kind === 'portmap' ? ' (IPv4)' : '') + ': ' + e.message);
          }
        }
      }
    }
    result.textContent = (made.length ? 'Opened ' + made.length + (made.length === 1 ? ' rule.' : ' rules.') : '') +
      (failed.length ? ' Not opened: ' + failed.join('; ') : '');
    await poll();
  }

  // ---------- settings ----------

  async function loadSettings() {
    const s = await api('GET', '/settings');
    state.settings = s;
    $('set-upnp').checked = s.enable_upnp;
    $('set-pcp').checked = s.enable_pcp;
    $('set-temp').checked = s.allow_temporary;
    $('set-max').value = s.max_lifetime;
    $('set-max').min = s.min_lifetime;
    $('set-max').max = s.max_lifetime_limit;
    $('set-max-help').textContent = 'Between ' + s.min_lifetime + ' and ' + s.max_lifetime_limit +
      ' seconds (' + duration(s.max_lifetime_limit) + '). Apps that stop asking lose their ports after this time.';
  }

  async function submitSettings(ev) {
    ev.preventDefault();
    const out = $('settings-result');
    const n = Number($('set-max').value);
    if (!Number.isInteger(n)) { out.textContent = 'The longest time must be a whole number of seconds.'; return; }
    try {
      await api('PUT', '/settings', {
        enable_upnp: $('set-upnp').checked,
        enable_pcp: $('set-pcp').checked,
        allow_temporary: $('set-temp').checked,
        max_lifetime: n,
      });
      out.textContent = 'Saved.';
      await loadSettings();
    } catch (e) {
      out.textContent = 'Not saved: ' + e.message;
    }
  }

  // ---------- pages and session ----------

  const PAGES = ['nopassword', 'login', 'devices', 'rules', 'add', 'settings'];

  function showPage(name) {
    state.page = name;
    for (const p of PAGES) $('page-' + p).hidden = p !== name;
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  }

  async function route() {
    if (!state.csrf) return;
    const name = (location.hash || '#rules').slice(1);
    const page = ['devices', 'rules', 'add', 'settings'].includes(name) ? name : 'rules';
    showPage(page);
    showMessage('');
    state.renaming = null;
    try {
      if (page === 'rules') renderRules();
      if (page === 'devices') { await loadDevices(); renderDevices(); }
      if (page === 'add') { await loadDevices(); fillDeviceSelect(); }
      if (page === 'settings') await loadSettings();
    } catch (e) {
      if (e.status !== 401) showMessage(e.message);
    }
    const h = $('page-' + page).querySelector('h2');
    if (h) { h.tabIndex = -1; h.focus({ preventScroll: true }); }
  }

  function loggedIn(csrf) {
    state.csrf = csrf;
    $('nav').hidden = false;
    startPolling();
    route();
  }

  function loggedOut() {
    state.csrf = null;
    stopPolling();
    $('nav').hidden = true;
    $('status').hidden = true;
    showPage('login');
    $('password').focus();
  }

  async function submitLogin(ev) {
    ev.preventDefault();
    const err = $('login-error');
    err.hidden = true;
    try {
      const r = await api('POST', '/login', { password: $('password').value });
      $('password').value = '';
      loggedIn(r.csrf);
    } catch (e) {
      err.textContent = e.status === 401 ? 'Wrong password.' :
        e.status === 429 ? 'Too many attempts. Please wait a little and try again.' : e.message;
      err.hidden = false;
    }
  }

  async function logout() {
    try { await api('POST', '/logout'); } catch (e) { /* the session is gone either way */ }
    loggedOut();
  }

  async function start() {
    $('login-form').addEventListener('submit', submitLogin);
    $('add-form').addEventListener('submit', submitAdd);
    $('settings-form').addEventListener('submit', submitSettings);
    $('add-device').addEventListener('change', describeTarget);
    $('add-address').addEventListener('input', () => {
      if ($('add-address').value.trim()) $('add-device').value = '';
      describeTarget();
    });
    $('logout').addEventListener('click', logout);
    window.addEventListener('hashchange', route);
    try {
      const s = await api('GET', '/session');
      if (!s.password_set) showPage('nopassword');
      else if (s.logged_in) loggedIn(s.csrf);
      else loggedOut();
    } catch (e) {
      showMessage('The router did not answer: ' + e.message);
    }
  }

  document.addEventListener('DOMContentLoaded', start);
})();
