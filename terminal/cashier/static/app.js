// The cashier's page (terminal/cashier/routes.ts): no framework, no build. The terminal's state arrives
// live over server-sent events; a sale is one POST that returns when the sale is finished.
'use strict';

const $ = (id) => document.getElementById(id);
let benefits = [];
let selling = false;

function text(el, value) {
  el.textContent = value;
}

function renderBenefits(list) {
  const key = list.map((b) => b.code).join(',');
  if ($('benefits').dataset.key === key) return;
  $('benefits').dataset.key = key;
  $('benefits').replaceChildren(
    ...list.map((b, i) => {
      const label = document.createElement('label');
      const input = document.createElement('input');
      input.type = 'radio';
      input.name = 'benefit';
      input.value = b.code;
      input.checked = i === 0;
      input.addEventListener('change', updateAmountLabel);
      label.append(input, document.createTextNode(b.label));
      return label;
    }),
  );
  benefits = list;
  updateAmountLabel();
}

function chosen() {
  const input = document.querySelector('input[name="benefit"]:checked');
  return benefits.find((b) => b.code === (input && input.value));
}

function updateAmountLabel() {
  const b = chosen();
  const entries = b && b.unit === 'entry';
  text($('amount-label'), entries ? "Nombre d'entrées" : 'Montant en euros');
  text($('amount-help'), entries ? 'Par exemple 2' : 'Par exemple 12,50');
  $('amount').inputMode = entries ? 'numeric' : 'decimal';
}

function renderScreen(screen) {
  const el = $('screen');
  el.className = `screen ${screen.tone}`;
  el.replaceChildren(
    ...screen.lines.map((line) => {
      const p = document.createElement('p');
      p.textContent = line;
      return p;
    }),
    ...(screen.footer ? [Object.assign(document.createElement('p'), { className: 'footer', textContent: screen.footer })] : []),
  );
}

const time = new Intl.DateTimeFormat('fr-FR', { hour: '2-digit', minute: '2-digit', second: '2-digit', timeZone: 'Europe/Paris' });

function renderSales(sales) {
  $('sales').tBodies[0].replaceChildren(
    ...sales.map((s) => {
      const tr = document.createElement('tr');
      const cells = [time.format(new Date(s.at)), s.benefit, s.amount, s.result];
      cells.forEach((value, i) => {
        const td = document.createElement('td');
        td.textContent = value;
        if (i === 2) td.className = 'amount';
        if (i === 3) td.className = s.tone;
        tr.append(td);
      });
      return tr;
    }),
  );
}

function renderStatus(st) {
  const online = st.link === 'online';
  const waiting = st.pending > 0 ? `${st.pending} vente${st.pending > 1 ? 's' : ''} en attente d'envoi${st.oldestPendingAt ? `, la plus ancienne depuis ${time.format(new Date(st.oldestPendingAt))}` : ''}` : 'aucune vente en attente';
  text($('status'), `${online ? 'En ligne' : 'Hors ligne'} · ${waiting}`);
  $('status').className = `status ${online ? 'online' : 'offline'}`;
  text($('partner'), st.partner ? `— ${st.partner}` : '');
}

function render(st) {
  renderBenefits(st.benefits);
  renderScreen(st.screen);
  renderSales(st.sales);
  renderStatus(st);
  const busy = st.state !== 'idle' && st.state !== 'finished';
  $('cancel').disabled = !(st.state === 'awaitingCredential' || st.state === 'awaitingPin');
  $('start').disabled = selling || busy;
  $('cancel-last').disabled = busy || st.sales.length === 0;
}

async function sell(event) {
  event.preventDefault();
  const b = chosen();
  const amount = $('amount').value.trim();
  text($('error'), '');
  if (!b) return text($('error'), 'Choisissez un avantage.');
  if (!amount) {
    $('amount').focus();
    return text($('error'), b.unit === 'entry' ? "Indiquez le nombre d'entrées." : 'Indiquez le montant, par exemple 12,50.');
  }
  selling = true;
  $('start').disabled = true;
  try {
    const res = await fetch('/caisse/sale', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ benefit: b.code, amount }) });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      text($('error'), (body.error && body.error.fr) || 'La vente n’a pas pu démarrer.');
      return;
    }
    renderScreen(body.screen);
    $('amount').value = '';
  } catch {
    text($('error'), 'Le terminal ne répond pas.');
  } finally {
    selling = false;
    $('start').disabled = false;
    $('amount').focus();
  }
}

async function cancel() {
  await fetch('/caisse/cancel', { method: 'POST' });
}

// The last sale, the same day: the amount goes back to the youth's benefit (the server decides).
async function cancelLast() {
  text($('cancel-error'), '');
  if (!window.confirm("Annuler la dernière vente ? Le montant est rendu à l'avantage du jeune.")) return;
  $('cancel-last').disabled = true;
  try {
    const res = await fetch('/caisse/cancel-last', { method: 'POST' });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) return text($('cancel-error'), (body.error && body.error.fr) || "L'annulation n'a pas pu être faite.");
    renderScreen(body.screen);
  } catch {
    text($('cancel-error'), 'Le terminal ne répond pas.');
  } finally {
    $('cancel-last').disabled = false;
  }
}

document.addEventListener('DOMContentLoaded', () => {
  $('sale').addEventListener('submit', sell);
  $('cancel').addEventListener('click', cancel);
  $('cancel-last').addEventListener('click', cancelLast);
  const events = new EventSource('/caisse/events');
  events.addEventListener('state', (e) => render(JSON.parse(e.data)));
  events.addEventListener('error', () => {
    text($('status'), 'Terminal injoignable : nouvelle tentative…');
    $('status').className = 'status offline';
  });
  $('amount').focus();
});
