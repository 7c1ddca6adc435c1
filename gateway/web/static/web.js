// Passerelle web space: small progressive enhancements; every page works without them.
// - a form marked data-once is sent once: its submit button is disabled after the first click (the server
//   also decides a repeated sale once: the form carries its attempt's id);
// - a form marked data-confirm asks before it is sent.
document.addEventListener('submit', (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement)) return;
  const question = form.getAttribute('data-confirm');
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (form.hasAttribute('data-once')) {
    if (form.dataset.sent === '1') {
      event.preventDefault();
      return;
    }
    form.dataset.sent = '1';
    for (const b of form.querySelectorAll('button[type=submit]')) {
      b.setAttribute('aria-disabled', 'true');
      b.textContent = 'Envoi en cours…';
    }
  }
});

// A section marked data-poll follows a job: its JSON is read every second until it says finished, then the
// page is reloaded to show the result. Without script, the page has a link to refresh it.
for (const section of document.querySelectorAll('[data-poll]')) {
  const url = section.getAttribute('data-poll');
  const text = section.querySelector('[data-poll-text]');
  const bar = section.querySelector('[data-poll-value]');
  const tick = async () => {
    try {
      const r = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
      if (r.ok) {
        const s = await r.json();
        if (text && text.textContent !== s.phaseText) text.textContent = s.phaseText;
        if (bar) bar.value = s.percent;
        if (s.finished) {
          window.location.reload();
          return;
        }
      }
    } catch {
      // The gateway is busy loading: try again.
    }
    setTimeout(tick, 1000);
  };
  setTimeout(tick, 1000);
}
