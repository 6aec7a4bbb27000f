// The web admin page's only script (served by the server; no framework, no CDN): the journal's live view
// (server-sent events) and the charts' refresh. Text goes in with textContent, never as HTML.
(function () {
  'use strict';
  var live = document.getElementById('live');
  if (live) {
    var body = live.tBodies[0];
    var count = document.getElementById('live-count');
    var source = new EventSource(live.getAttribute('data-src'));
    source.onmessage = function (message) {
      var e = JSON.parse(message.data);
      var row = document.createElement('tr');
      var cells = [e.timestamp, e.persistenceId, '#' + e.sequenceNr, e.manifest, JSON.stringify(e.event !== undefined ? e.event : e.error)];
      for (var i = 0; i < cells.length; i++) {
        var cell = document.createElement('td');
        cell.textContent = cells[i];
        if (i === cells.length - 1) cell.className = 'event';
        row.appendChild(cell);
      }
      body.insertBefore(row, body.firstChild);
      if (count) count.textContent = String(body.rows.length);
    };
  }
  var charts = document.querySelectorAll('img[data-refresh]');
  if (charts.length > 0) {
    setInterval(function () {
      for (var i = 0; i < charts.length; i++) charts[i].src = charts[i].getAttribute('data-refresh') + '?t=' + Date.now();
    }, 5000);
  }
})();
