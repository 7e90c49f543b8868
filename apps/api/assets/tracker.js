// The fashion store's click tracker, sending what a shopper does to the collector's POST /events:
//   <script src="https://collector.example/tracker.js" data-user-id="42" defer></script>
// data-endpoint overrides the events URL (default: /events on the origin this file came from).
// Plain ES2017, no dependency, no build step: the collector serves this very file as it is.
(function () {
  'use strict';
  if (window.fashionTracker) return; // included twice: the first copy keeps the queue

  const SESSION_KEY = 'fashion.session'; // {id, last}; the browser test reads the id from here
  const SESSION_IDLE_MS = 30 * 60 * 1000;
  const FLUSH_DELAY_MS = 2000;
  const FLUSH_AT = 20;
  const MAX_PER_REQUEST = 500; // the collector's limit
  const MAX_BODY_CHARS = 60000; // browsers refuse keepalive fetches and beacons over 64 KiB
  const MAX_QUEUE = 1000;
  const MAX_PRODUCT_ID = 4294967295; // u32 on the server
  const BACKOFF_MIN_MS = 1000, BACKOFF_MAX_MS = 60000;
  // What a click on an element with the attribute (or inside one) records, with the attribute's id.
  const CLICKS = [['data-fashion-product', 'click'], ['data-fashion-add-to-cart', 'add_to_cart'],
    ['data-fashion-remove-from-cart', 'remove_from_cart']];

  const script = document.currentScript || document.querySelector('script[src*="tracker.js"]');
  const data = (script && script.dataset) || {};
  const endpoint = data.endpoint || new URL('/events', (script && script.src) || location.href).href;
  const warn = (...args) => console.warn('fashionTracker:', ...args);

  // Ids travel as JSON numbers: only what a double holds exactly is an id.
  function toId(value, max) {
    const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value || '') ? Number(value) : NaN;
    return Number.isSafeInteger(n) && n > 0 && n <= (max || Number.MAX_SAFE_INTEGER) ? n : null;
  }

  // crypto.randomUUID exists only in secure contexts (https, localhost): a shop on plain http
  // gets the same v4 layout from getRandomValues.
  function uuid() {
    if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    const h = Array.from(b, (x) => (x + 0x100).toString(16).slice(1)).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // A session ends after 30 minutes without an event. localStorage throws where storage is off
  // (some private modes, sandboxed frames): the session then lives as long as the page.
  let memorySession = null;
  function sessionId() {
    const now = Date.now();
    let s = memorySession;
    try { s = JSON.parse(localStorage.getItem(SESSION_KEY)) || s; } catch (e) { /* memory only */ }
    if (!s || typeof s.id !== 'string' || !(now - s.last <= SESSION_IDLE_MS)) s = { id: uuid() };
    s.last = now;
    memorySession = s;
    try { localStorage.setItem(SESSION_KEY, JSON.stringify(s)); } catch (e) { /* memory only */ }
    return s.id;
  }

  // RFC 3339 in the shopper's local time with its offset, e.g. 2026-12-04T15:04:05.123+07:00:
  // toISOString would give UTC and lose the local hour, which the trends read.
  function localTimestamp(d) {
    const p = (n, w) => String(n).padStart(w || 2, '0');
    const east = -Math.round(d.getTimezoneOffset()); // minutes east of UTC
    const off = Math.abs(east);
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:` +
      `${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}` +
      `${east < 0 ? '-' : '+'}${p(Math.floor(off / 60))}:${p(off % 60)}`;
  }

  // Chromium says "mobile" outright; other browsers are read from the user agent. Tablets are
  // Android without "Mobile", iPads (Macs with touch since iPadOS 13) and a few named ones. A
  // touch screen that says nothing is judged by its short side.
  function detectDevice() {
    const ua = navigator.userAgent || '';
    const touch = navigator.maxTouchPoints > 1;
    if (navigator.userAgentData && navigator.userAgentData.mobile) return 'mobile';
    if (/iPad|Tablet|Kindle|Silk|PlayBook/i.test(ua) || (/Android/i.test(ua) && !/Mobile/i.test(ua)) ||
        (/Macintosh/.test(ua) && touch)) return 'tablet';
    if (/Mobi|iPhone|iPod|Windows Phone/i.test(ua)) return 'mobile';
    const shortSide = Math.min(screen.width, screen.height);
    return !touch ? 'desktop' : shortSide < 600 ? 'mobile' : shortSide < 1024 ? 'tablet' : 'desktop';
  }
  const device = detectDevice();

  let userId = toId(data.userId);
  if (data.userId && !userId) warn(`data-user-id="${data.userId}" is not a positive integer`);
  let queue = []; // oldest first; events without a user wait here for identify()
  const inFlight = new Set();
  const stats = { sent: 0, rejected: 0, retries: 0, dropped: 0, beaconed: 0 };
  let flushTimer = null, retryTimer = null, draining = null, backoff = 0;

  function record(type, product) {
    const ev = { event_id: uuid(), event_type: type, user_id: userId, session_id: sessionId() };
    if (type !== 'page_view') {
      ev.product_id = toId(product, MAX_PRODUCT_ID);
      if (!ev.product_id) { warn(`${type}: "${product}" is not a product id`); return false; }
    }
    Object.assign(ev, { occurred_at: localTimestamp(new Date()), device, schema_version: 1 });
    queue.push(ev);
    if (queue.length > MAX_QUEUE) { // the collector has been away for long: keep the newest
      queue.splice(queue.findIndex((old) => !inFlight.has(old)), 1); // (a batch is under 1000)
      if (stats.dropped++ % 100 === 0) warn(`over ${MAX_QUEUE} events waiting: dropping the oldest`);
    }
    schedule();
    return true;
  }

  const ready = (ev) => ev.user_id !== null && !inFlight.has(ev);
  // Sends 2 s after the first waiting event, or at once at 20; during a backoff the retry will.
  function schedule() {
    if (retryTimer) return;
    if (queue.filter(ready).length >= FLUSH_AT) flush();
    else if (!flushTimer && queue.some(ready)) flushTimer = setTimeout(flush, FLUSH_DELAY_MS);
  }

  // The oldest sendable events that fit one request.
  function nextBatch() {
    const batch = [];
    let chars = 2;
    for (const ev of queue.filter(ready)) {
      chars += JSON.stringify(ev).length + 1;
      if (batch.length === MAX_PER_REQUEST || (batch.length && chars > MAX_BODY_CHARS)) break;
      batch.push(ev);
    }
    return batch;
  }

  function remove(batch) {
    const gone = new Set(batch);
    queue = queue.filter((ev) => !gone.has(ev));
  }

  // Resolves once every sendable event is settled, or as soon as the collector asked us to wait
  // (the events then stay queued for the scheduled retry).
  function flush() {
    clearTimeout(flushTimer);
    flushTimer = null;
    if (retryTimer) return Promise.resolve();
    if (!draining) draining = drain().then(() => { draining = null; });
    return draining;
  }

  async function drain() {
    for (let batch = nextBatch(); batch.length; batch = nextBatch()) {
      batch.forEach((ev) => inFlight.add(ev));
      const settled = await send(batch).catch((e) => retryLater(null, `send failed: ${e}`));
      batch.forEach((ev) => inFlight.delete(ev));
      if (!settled) return;
    }
  }

  // One request: true when the batch is settled (stored, refused or dropped), false when it is to
  // be sent again later, which is safe: event_id is the collector's idempotency key.
  async function send(batch) {
    // text/plain keeps the request CORS-simple (no preflight); keepalive lets it outlive the page.
    const res = await fetch(endpoint, {
      method: 'POST', body: JSON.stringify(batch), keepalive: true, credentials: 'omit',
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    }).catch((e) => e);
    if (res instanceof Error) return retryLater(null, `network error (${res.message})`);
    if (res.status === 202) {
      const body = await res.json().catch(() => null);
      remove(batch);
      backoff = 0;
      if (!body || !Array.isArray(body.results)) { stats.sent += batch.length; return true; }
      stats.sent += body.accepted;
      stats.rejected += body.rejected;
      for (const r of body.results) { // a refused event would be refused again: say why, move on
        if (r.status === 'rejected') warn(`event rejected (${r.code}): ${r.message}`, batch[r.index]);
      }
      return true;
    }
    // 503 is the collector's "full or failing, come back"; 429 and other 5xx are proxies' ways.
    if (res.status === 503 || res.status === 429 || res.status >= 500) {
      return retryLater(res.headers.get('Retry-After'), `HTTP ${res.status}`);
    }
    // 400, 413, 415 and the like: the same bytes would be refused again.
    const text = await res.text().catch(() => '');
    remove(batch);
    stats.dropped += batch.length;
    warn(`dropped ${batch.length} events: HTTP ${res.status} ${text.slice(0, 300)}`);
    return true;
  }

  // After Retry-After seconds when given (the header is exposed by the collector's CORS), else an
  // exponential backoff from 1 s to 60 s with jitter, so that many shoppers' tabs spread out.
  function retryLater(retryAfter, why) {
    let delay = /^\d+$/.test(retryAfter || '') ? Math.min(Number(retryAfter), 600) * 1000 : NaN;
    if (Number.isNaN(delay)) {
      backoff = Math.min(Math.max(backoff * 2, BACKOFF_MIN_MS), BACKOFF_MAX_MS);
      delay = backoff / 2 + (Math.random() * backoff) / 2;
    }
    stats.retries += 1;
    warn(`${why}: ${queue.length} events kept, retrying in ${(delay / 1000).toFixed(1)} s`);
    retryTimer = setTimeout(() => { retryTimer = null; flush(); }, delay);
    return false;
  }

  // The page is being hidden, maybe for good: a fetch may not finish, a beacon will (even during a
  // backoff: this may be the last chance). A string goes as text/plain;charset=UTF-8, which the
  // collector reads as JSON. What the beacon refuses (over its quota) stays queued.
  function beaconAll() {
    if (typeof navigator.sendBeacon !== 'function') return;
    for (let batch = nextBatch(); batch.length; batch = nextBatch()) {
      if (!navigator.sendBeacon(endpoint, JSON.stringify(batch))) break;
      remove(batch);
      stats.beaconed += batch.length;
    }
  }
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') beaconAll(); else schedule();
  });
  window.addEventListener('pagehide', beaconAll);

  // One listener for the whole page, in the capture phase so that a shop's handler calling
  // stopPropagation cannot hide a click. A cart button inside a product tile records both the
  // click on the tile and the cart event: both happened.
  document.addEventListener('click', (e) => {
    if (!(e.target instanceof Element)) return;
    for (const [attr, type] of CLICKS) {
      const el = e.target.closest(`[${attr}]`);
      if (el) record(type, el.getAttribute(attr));
    }
  }, true);

  window.fashionTracker = {
    // Events recorded before the shopper was known are theirs too.
    identify(id) {
      const u = toId(id);
      if (!u) { warn(`identify: "${id}" is not a positive integer`); return false; }
      userId = u;
      queue.forEach((ev) => { if (ev.user_id === null) ev.user_id = u; });
      schedule();
      return true;
    },
    pageView: () => record('page_view'),
    productView: (id) => record('product_view', id),
    click: (id) => record('click', id),
    addToCart: (id) => record('add_to_cart', id),
    removeFromCart: (id) => record('remove_from_cart', id),
    flush,
    // sent and rejected are the collector's answers; beaconed went by sendBeacon, which gets none;
    // dropped were lost to a full queue or refused whole (400, 413, 415).
    stats: () => Object.assign({ queued: queue.length }, stats),
  };

  // On load: a page_view, and a product_view on a product page (<body data-fashion-product-view>).
  function start() {
    record('page_view');
    const viewed = document.body.getAttribute('data-fashion-product-view');
    if (viewed !== null) record('product_view', viewed);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
