from __future__ import annotations

import grpc
import pytest

import veilsum
from fake_member_service import FakeMemberService, start_fake


@pytest.fixture
def fake() -> tuple[FakeMemberService, veilsum.Client]:
    """A client connected to the FAKE MemberService (client-side unit tests only)."""
    server, service, address = start_fake()
    client = veilsum.Client(address, channel=grpc.insecure_channel(address), retries=1)
    yield service, client
    client.close()
    server.stop(None)


@pytest.fixture(scope="session")
def consortium():
    """A real coordinator and three real member peers (processes), shared by the whole session."""
    from consortium import Consortium

    started = Consortium(members=3)
    yield started
    started.stop()
