// The bellwire console's only script: the live tail of a channel (Server-Sent Events).
// Everything else is plain HTML forms; writes are confirmed by a server-rendered page.
'use strict';

(function () {
  const box = document.getElementById('tail');
  if (!box) {
    return;
  }
  const status = box.querySelector('.status');
  const list = document.createElement('ol');
  list.className = 'events';
  box.appendChild(list);
  const KEEP = 500; // lines shown; older ones are removed

  function show(text, className) {
    const item = document.createElement('li');
    if (className) {
      item.className = className;
    }
    item.textContent = text;
    list.insertBefore(item, list.firstChild);
    while (list.childNodes.length > KEEP) {
      list.removeChild(list.lastChild);
    }
  }

  function describe(line) {
    const event = JSON.parse(line);
    const frame = JSON.parse(event.frame);
    const headers = frame.Headers || {};
    let payload = frame.Payload;
    try {
      payload = JSON.stringify(JSON.parse(payload), null, 1);
    } catch (err) {
      // not JSON: shown as sent
    }
    const only = event.only ? ` (only to ${event.only.join(', ')})` : '';
    return `#${event.seq} ${headers['x-amz-chime-event-type']} ${headers['x-amz-chime-message-type'] || ''}${only}\n${payload}`;
  }

  const source = new EventSource(box.dataset.src);
  source.addEventListener('ready', () => {
    status.textContent = 'Following: new events appear at the top.';
    status.className = 'status live';
  });
  source.addEventListener('message', message => {
    show(describe(message.data), 'event');
  });
  source.addEventListener('dropped', message => {
    show(`${message.data} event(s) skipped: the page did not keep up`, 'dropped');
  });
  source.addEventListener('error', () => {
    status.textContent = 'Disconnected; reconnecting…';
    status.className = 'status';
  });
})();
