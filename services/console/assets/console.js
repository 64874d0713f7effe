// Live overview: the console streams each committed block's events (server-sent events); new
// rounds and phases appear as they are committed, without reloading the page.
(() => {
  const list = document.getElementById('live-events');
  const status = document.getElementById('live-status');
  const latest = document.getElementById('latest-rounds');
  if (list && status) {
    const source = new EventSource('/events');
    source.addEventListener('ready', (message) => {
      const { block } = JSON.parse(message.data);
      status.textContent = `Following the ledger from block ${block}.`;
    });
    source.addEventListener('block', async (message) => {
      const event = JSON.parse(message.data);
      const item = document.createElement('li');
      const subject = [event.roundId, event.phase, event.memberId].filter(Boolean).join(' · ');
      item.textContent = `Block ${event.block}: ${event.name}${subject ? ` — ${subject}` : ''}`;
      item.dataset.event = event.name;
      list.prepend(item);
      if (latest && event.roundId) {
        const response = await fetch('/fragments/latest-rounds');
        if (response.ok) latest.innerHTML = await response.text();
      }
    });
    // The console cannot read or verify new blocks (its peer stopped, a block failed its
    // checks): said at once, and until it can again.
    source.addEventListener('problem', (message) => {
      status.textContent = `Not following the ledger: ${JSON.parse(message.data).message}.`;
    });
    source.addEventListener('resumed', (message) => {
      const { block } = JSON.parse(message.data);
      status.textContent = `Following the ledger again from block ${block}.`;
    });
    source.addEventListener('error', () => {
      status.textContent = 'Connection to the console lost; retrying…';
    });
  }
})();
