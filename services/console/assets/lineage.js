// The lineage graph: model versions → rounds → members → datasets → consents, positioned by the
// server (no layout pass in the browser). Drag to pan, wheel or buttons to zoom, click to open.
/* global cytoscape */
(() => {
  const container = document.getElementById('lineage-graph');
  const status = document.getElementById('lineage-status');
  const COLOURS = {
    version: '#7c3aed',
    round: '#2563eb',
    member: '#059669',
    dataset: '#d97706',
    consent: '#b91c1c',
  };
  if (container) {
    const started = performance.now();
    fetch(`/api/lineage/${container.dataset.model}`)
      .then((response) => response.json())
      .then((graph) => {
        // An earlier version's contributions (round → bank) are drawn when asked for: all of a
        // 100-version model's are 10 000 edges, seconds to draw and a tangle to read.
        const edges = graph.edges.map((e, i) => ({
          data: { id: `e${i}`, source: e.source, target: e.target, round: e.round },
        }));
        const cy = cytoscape({
          container,
          elements: [
            ...graph.nodes.map((n) => ({
              data: { id: n.id, label: n.label, kind: n.kind, href: n.href },
              position: { x: n.x, y: n.y },
            })),
            ...edges.filter((e) => e.data.round === undefined || e.data.round === graph.focus),
          ],
          layout: { name: 'preset' },
          // Plain selectors (no function mappers): Cytoscape caches these styles per class.
          style: [
            {
              selector: 'node',
              style: {
                label: 'data(label)',
                'font-size': 11,
                // Labels are not drawn while too small to read (the fitted 100-version graph).
                'min-zoomed-font-size': 7,
                width: 18,
                height: 18,
                'text-valign': 'bottom',
              },
            },
            ...Object.entries(COLOURS).map(([kind, colour]) => ({
              selector: `node[kind = "${kind}"]`,
              style: { 'background-color': colour },
            })),
            {
              selector: 'edge',
              style: { width: 1, 'line-color': '#9ca3af', 'curve-style': 'haystack' },
            },
          ],
          // Thousands of edges (100 versions × 100 members): draw a texture while panning and zooming.
          textureOnViewport: true,
          hideEdgesOnViewport: true,
          pixelRatio: 1,
        });
        cy.on('tap', 'node', (event) => {
          window.location.href = event.target.data('href');
        });
        const zoom = (factor) =>
          cy.zoom({
            level: cy.zoom() * factor,
            renderedPosition: { x: container.clientWidth / 2, y: container.clientHeight / 2 },
          });
        document.getElementById('zoom-in')?.addEventListener('click', () => zoom(1.25));
        document.getElementById('zoom-out')?.addEventListener('click', () => zoom(0.8));
        document.getElementById('zoom-fit')?.addEventListener('click', () => cy.fit());
        const drawn = new Set([graph.focus]);
        const draw = (rounds) => {
          const missing = rounds.filter((round) => !drawn.has(round));
          if (missing.length === 0) return;
          for (const round of missing) drawn.add(round);
          cy.add(edges.filter((e) => missing.includes(e.data.round)));
        };
        cy.on('mouseover', 'node[kind = "round"]', (event) => draw([event.target.id()]));
        const all = document.getElementById('all-contributions');
        all?.addEventListener('click', () => {
          const clicked = performance.now();
          cy.one('render', () => {
            container.dataset.allRenderMs = (performance.now() - clicked).toFixed(1);
            status.textContent = `${cy.nodes().length} nodes and ${cy.edges().length} links drawn.`;
          });
          draw([...new Set(edges.map((e) => e.data.round).filter(Boolean))]);
          all.setAttribute('aria-pressed', 'true');
          all.disabled = true;
        });
        cy.fit();
        cy.one('render', () => {
          const ms = performance.now() - started;
          container.dataset.renderMs = ms.toFixed(1);
          container.dataset.nodes = String(graph.nodes.length);
          status.textContent = `${graph.nodes.length} nodes and ${graph.edges.length} links drawn.`;
        });
        window.veilsumLineage = cy;
      })
      .catch(() => {
        status.textContent =
          'The lineage graph could not be loaded; the table below has the same data.';
      });
  }
})();
