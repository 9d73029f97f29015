"""The judge as grading runs it, with its kernel agent in this process (no kernel to start):
requests and replies cross ``torch.save``/``torch.load`` as over the wire, replies as plain data
(``weights_only``), so a value the real channel could not read fails here too."""

from __future__ import annotations

import io
import sys
import types
from types import ModuleType

import torch

from dgm_staff import judge


class InProcessChannel:
    """:class:`dgm_staff.judge.KernelChannel`'s part, for an agent running on ``user_ns`` (the
    student's names) in this process."""

    def __init__(self, user_ns: dict):
        agent_ns = {"get_ipython": lambda: types.SimpleNamespace(user_ns=user_ns)}
        exec(compile(judge.AGENT_SOURCE, "<kernel agent>", "exec"), agent_ns)  # noqa: S102
        self.agent = agent_ns["__dgm_judge_agent__"]

    @staticmethod
    def _wire(obj, weights_only):
        buf = io.BytesIO()
        torch.save(obj, buf)
        buf.seek(0)
        return torch.load(buf, weights_only=weights_only)

    def request(self, req: dict) -> dict:
        req = self._wire(req, weights_only=False)
        try:
            resp = getattr(self.agent, "op_" + req["op"])(req)
        except Exception as e:  # noqa: BLE001 - as the agent's handle() replies
            resp = {"status": "error", "ename": type(e).__name__, "evalue": str(e)}
        try:
            return self._wire(resp, weights_only=True)
        except Exception as e:  # noqa: BLE001 - as KernelChannel reads a reply
            raise judge.JudgeError(f"the kernel's answer could not be read as data ({e})") \
                from None


def judged(user_ns: dict, checks: ModuleType, source: str) -> BaseException | None:
    """The judge's verdict on a test cell's whole ``source`` (None: it passed), with ``checks``
    bound to the staff module and the student's names in ``user_ns``: their functions and classes
    come back as handles, their networks as mirrors."""
    previous = sys.modules.get("__dgm_harness__")
    j = judge.Judge.__new__(judge.Judge)
    j.session = judge.Session(InProcessChannel(user_ns))
    j.checks = checks
    judge._checks_common().REMOTE = j.session
    try:
        return j.run_cell(source)
    finally:
        j.close()
        if previous is None:
            sys.modules.pop("__dgm_harness__", None)
        else:
            sys.modules["__dgm_harness__"] = previous
