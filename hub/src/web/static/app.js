// Progressive enhancement for the Healthchain hub pages: the pages work
// without it; with it, the main content refreshes every few seconds (live
// vitals, alerts, diagnoses) unless the user is typing in a form.
'use strict'
;(function () {
  var main = document.getElementById('main')
  if (main === null) return
  // times are sent in the hub's zone; shown in this browser's own
  function localTimes () {
    main.querySelectorAll('time[datetime]').forEach(function (t) {
      var d = new Date(t.getAttribute('datetime'))
      if (!isNaN(d.getTime())) t.textContent = d.toLocaleString(undefined, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' })
    })
  }
  localTimes()
  var url = main.getAttribute('data-refresh')
  if (!url) return
  var every = 4000
  function busy () {
    var a = document.activeElement
    return a !== null && a !== document.body && main.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName)
  }
  function openDetails () {
    var open = []
    main.querySelectorAll('details[open]').forEach(function (d) { var a = d.closest('[aria-labelledby]'); if (a) open.push(a.getAttribute('aria-labelledby')) })
    return open
  }
  function tick () {
    if (document.visibilityState !== 'visible' || busy()) return setTimeout(tick, every)
    fetch(url, { credentials: 'same-origin', headers: { accept: 'text/html' } }).then(function (r) {
      if (r.status === 401) { location.reload(); return null }
      return r.ok ? r.text() : null
    }).then(function (text) {
      if (text !== null && text !== undefined && !busy()) {
        var open = openDetails()
        main.innerHTML = text
        open.forEach(function (id) { var d = main.querySelector('[aria-labelledby="' + id + '"] details'); if (d) d.open = true })
        localTimes()
        main.setAttribute('data-updated', String(Date.now()))
      }
    }).catch(function () {}).then(function () { setTimeout(tick, every) })
  }
  setTimeout(tick, every)
})()
