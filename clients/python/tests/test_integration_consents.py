"""list_consents against real peers that read an embedded ledger, on which every bank consented
to one model (test/support/member-peers.ts --consent-models)."""

from __future__ import annotations

import time

import pytest

from consortium import Consortium


@pytest.fixture(scope="module")
def ledgered():
    started = Consortium(members=3, consent_models=["consented-model"])
    yield started
    started.stop()


def test_each_bank_lists_its_own_consent_from_its_ledger_view(ledgered) -> None:
    now_ms = time.time() * 1000
    for peer in ledgered.peers:
        with peer.client("reader") as client:
            consents = client.list_consents()
        assert [(c.member_id, c.consent_id, c.dataset_id, c.purpose, c.in_force, c.revoked_at_ms) for c in consents] == [
            (peer.member_id, f"consent-{peer.member_id}-consented-model", f"data-{peer.member_id}", "consented-model", True, 0)
        ]
        assert consents[0].granted_at_ms <= now_ms < consents[0].expires_at_ms
