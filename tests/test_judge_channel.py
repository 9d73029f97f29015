"""The judge's connection to a real kernel (:class:`dgm_staff.judge.KernelChannel`): requests go
over the agent's comm, and where a submission has broken comms, as execute requests with the
payload in the message's metadata; the answers are the same either way."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from dgm_staff import judge

pytestmark = pytest.mark.nbgrader


@pytest.fixture
def kernel_client():
    client = NotebookClient(nbformat.v4.new_notebook(), kernel_name="python3", timeout=60)
    with client.setup_kernel():
        yield client.kc


def _get(channel, name):
    reply = channel.request({"op": "get", "name": name})
    assert reply["status"] == "ok", reply
    return reply["value"]


def test_requests_go_over_the_agents_comm(kernel_client):
    channel = judge.KernelChannel(kernel_client, timeout=30)
    channel.execute("x = 41")
    first = _get(channel, "x")
    assert channel.comm_id is not None and "41" in str(first)

    def no_cells(*args, **kwargs):
        raise AssertionError("a request ran as a cell")

    channel.execute = no_cells          # from now on, only the comm can answer
    assert _get(channel, "x") == first
    assert channel.request({"op": "get", "name": "no_such_name"}) == {"status": "missing"}


def test_a_submission_that_breaks_comms_is_still_judged(kernel_client):
    channel = judge.KernelChannel(kernel_client, timeout=30)
    channel.execute("import comm\ncomm.get_comm_manager = None\nx = 41")
    assert "41" in str(_get(channel, "x"))
    assert channel.comm_id is None      # the execute requests carried it


def test_a_large_request_travels_outside_the_code(kernel_client):
    # a payload of a few hundred KB (a batch of images) in a cell's code costs IPython ~0.1 s
    # to tokenise; in the comm's message it costs nothing of the sort
    channel = judge.KernelChannel(kernel_client, timeout=30)
    channel.execute("import comm\ncomm.get_comm_manager = None\nimages = 1")
    sent = []
    execute = channel.execute

    def recording(code, metadata=None):
        sent.append((code, metadata))
        return execute(code, metadata)

    channel.execute = recording
    reply = channel.request({"op": "get", "name": "images", "padding": "x" * 300_000})
    assert reply["status"] == "ok"
    code, metadata = sent[-1]
    assert len(code) < 100 and len(metadata[judge.REQUEST_KEY]) > 300_000
