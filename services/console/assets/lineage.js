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
        const cy = cytoscape({
          container,
          elements: [
            ...graph.nodes.map((n) => ({
              data: { id: n.id, label: n.label, kind: n.kind, href: n.href },
              position: { x: n.x, y: n.y },
            })),
            ...graph.edges.map((e, i) => ({
              data: { id: `e${i}`, source: e.source, target: e.target },
            })),
          ],
          layout: { name: 'preset' },
          style: [
            {
              selector: 'node',
              style: {
                label: 'data(label)',
                'font-size': 11,
                'background-color': (n) => COLOURS[n.data('kind')],
                width: 18,
                height: 18,
                'text-valign': 'bottom',
              },
            },
            {
              selector: 'edge',
              style: { width: 1, 'line-color': '#9ca3af', 'curve-style': 'haystack' },
            },
          ],
          wheelSensitivity: 0.3,
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
