// Checks an inclusion proof in this browser with WebCrypto (SHA-256), against the Merkle root the
// server read from the ledger: RFC 6962 style, leaves hashed with 0x00, inner nodes with 0x01.
(() => {
  const form = document.getElementById('verify-form');
  const result = document.getElementById('verify-result');
  const rootElement = document.getElementById('ledger-root');

  const bytes = (hex) => {
    if (typeof hex !== 'string' || !/^([0-9a-f]{2})+$/.test(hex)) throw new Error('not hex');
    return Uint8Array.from(hex.match(/../g), (pair) => parseInt(pair, 16));
  };
  const hexOf = (buffer) =>
    [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, '0')).join('');
  const sha256 = async (...parts) => {
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const part of parts) {
      joined.set(part, offset);
      offset += part.length;
    }
    return new Uint8Array(await crypto.subtle.digest('SHA-256', joined));
  };

  async function verify(proof, rootHex) {
    let node = await sha256(Uint8Array.of(0), bytes(proof.uploadSha256));
    for (const step of proof.path) {
      const sibling = bytes(step.sibling);
      node = step.siblingOnLeft
        ? await sha256(Uint8Array.of(1), sibling, node)
        : await sha256(Uint8Array.of(1), node, sibling);
    }
    return hexOf(node) === rootHex;
  }

  function show(ok, text) {
    result.innerHTML = '';
    const box = document.createElement('p');
    box.className = `verdict ${ok ? 'ok' : 'failed'}`;
    box.dataset.verdict = ok ? 'verified' : 'failed';
    box.textContent = text;
    result.append(box);
  }

  if (form && result && rootElement) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const rootHex = rootElement.dataset.root;
      let proof;
      try {
        proof = JSON.parse(document.getElementById('proof').value);
        if (!Array.isArray(proof.path)) throw new Error('no path');
      } catch {
        show(
          false,
          'Not checked: the text is not an inclusion proof. Paste the JSON that "veilsum audit prove-inclusion --json" prints.',
        );
        return;
      }
      try {
        if (await verify(proof, rootHex))
          show(
            true,
            `Verified: the upload of ${proof.member ?? 'this member'} is one of the uploads committed to this round. Your browser recomputed the round's fingerprint from it and got exactly the value recorded on the ledger.`,
          );
        else
          show(
            false,
            `Not verified: this proof does not lead to the fingerprint recorded on the ledger for this round. Either the upload was not part of the round, or the proof was changed after it was issued. Do not rely on it.`,
          );
      } catch {
        show(
          false,
          'Not verified: the proof contains values that are not valid fingerprints (64 hexadecimal characters each), so it may have been altered.',
        );
      }
    });
  }
})();
