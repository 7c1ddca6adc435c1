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
