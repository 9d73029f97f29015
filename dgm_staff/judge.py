"""The judge: every graded test cell is decided here, in the grader's process, never in the
student's kernel.

How a test cell is graded (:class:`dgm_staff.pipeline.RobustExecute` drives it):

1. The kernel runs the cell *without* its hidden region (the student sees the visible check's
   output, as in their own notebook). Whatever the kernel says about the cell is display only:
   its errors are removed from graded test cells.
2. The judge runs the cell's whole source (visible and hidden checks) in its own process with the
   staff checks (``grader_tests``), the comparison code and the references, none of which the
   kernel can import, read or change. The names the cell uses that the judge does not own are
   fetched from the kernel: values (numbers, strings, tensors, sympy expressions, configs) as data,
   and the student's functions, classes and networks as :class:`Remote` handles.
3. Calling a handle sends the inputs to the kernel, which runs the student's code on them and
   sends back only data: outputs, and what the call changed in its arguments (values, gradients,
   ``requires_grad``). Networks come back as structural mirrors (standard ``torch.nn`` layers with
   the student's weights) whose ``forward`` runs in the kernel. Gradients of returned values are
   taken in the kernel on request (:func:`dgm.checks.common.backward`, ``grad``).
4. The cell's verdict is whether the judge's run raised; its message is the check's own.

Guarantees: nothing the submission does inside its kernel (patching checks, ``torch``, builtins,
IPython, ``setattr`` through aliases, ``vars()``/``__dict__``, stack frames, tensor subclasses,
rebinding ``checks``) can change a reference, a comparison or a verdict, because none of them run
there; replies are loaded as plain data (``torch.load(weights_only=True)``, sympy trees rebuilt
from a whitelist of classes). Limits: the kernel reports what the student's code did, so a
submission could forge a report, but only by computing the correct values on inputs it sees only
at grading time, i.e. by solving the task; and properties observed inside the kernel (which
tensors received gradients, whether an input was modified in place) are as trustworthy as that
report. With :mod:`dgm_staff.sandbox`, the kernel cannot read the grader's files either.
"""

from __future__ import annotations

import ast
import base64
import builtins
import contextlib
import importlib
import inspect
import io
import math
import pickle
import sys
import time
import types
import uuid
from pathlib import Path
from typing import Any

import torch
from torch import nn

MIME = "application/x-dgm-judge"
#: The key of the execute request's metadata that carries a request to the agent.
REQUEST_KEY = "dgm_judge_request"
#: The comm target of the agent (kernel_agent.COMM_TARGET), through which requests go.
COMM_TARGET = "dgm-judge"


def _agent_source() -> str:
    """The agent's source, with the judge's own ``swap_globals`` (never the kernel's copy)."""
    from dgm.checks.common import swap_globals

    agent = (Path(__file__).resolve().parent / "kernel_agent.py").read_text()
    return (f"{agent}\n\n{inspect.getsource(swap_globals)}\n"
            "__dgm_swap_globals__ = swap_globals\ndel swap_globals\n")


AGENT_SOURCE = _agent_source()
MAX_REPLY_BYTES = 64_000_000

#: Names a test cell may use that the judge provides itself (never fetched from the kernel).
LOCAL_MODULES = {"torch": "torch", "np": "numpy", "numpy": "numpy", "sp": "sympy",
                 "sympy": "sympy", "math": "math", "nn": "torch.nn", "F": "torch.nn.functional",
                 "warnings": "warnings"}


class JudgeError(RuntimeError):
    """The judge could not talk to the kernel (it died, hung, or replied nonsense)."""


class RemoteError(Exception):
    """An exception raised by the student's code in the kernel (its type name is kept)."""


_remote_error_types: dict[str, type] = {}


def _remote_exception(ename: str, evalue: str) -> BaseException:
    builtin = getattr(builtins, ename, None)
    if ename == "NotImplementedError":
        return NotImplementedError(evalue)
    if isinstance(builtin, type) and issubclass(builtin, Exception) and \
            builtin.__module__ == "builtins":
        try:
            return builtin(evalue)
        except Exception:  # noqa: BLE001 - exotic constructors: fall back on a named type
            pass
    if ename not in _remote_error_types:
        safe = "".join(ch for ch in ename if ch.isalnum() or ch == "_")[:60] or "Error"
        _remote_error_types[ename] = type(safe, (RemoteError,), {})
    return _remote_error_types[ename](evalue)


# ------------------------------------------------------------------------ sympy trees ---------
def _sympy_classes() -> dict:
    import sympy as sp

    names = ["Add", "Mul", "Pow", "exp", "log", "sin", "cos", "tan", "sinh", "cosh", "tanh",
             "asin", "acos", "atan", "Abs", "sign", "Piecewise", "ExprCondPair", "And", "Or", "Not",
             "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan", "Equality",
             "Unequality", "Min", "Max", "Sum", "Product", "Integral", "Tuple", "factorial",
             "binomial", "gamma", "floor", "ceiling", "Heaviside", "re", "im", "erf", "Lambda",
             "Derivative", "Limit", "Dummy", "Mod", "sqrt", "LambertW", "polygamma", "loggamma"]
    classes = {n: getattr(sp, n) for n in names if hasattr(sp, n)}
    from sympy.functions.elementary.piecewise import ExprCondPair

    classes["ExprCondPair"] = ExprCondPair
    return classes


def _sympy_atoms() -> dict:
    import sympy as sp

    atoms = [sp.pi, sp.E, sp.oo, -sp.oo, sp.zoo, sp.nan, sp.I, sp.EulerGamma, sp.S.Half,
             sp.S.One, sp.S.Zero, sp.S.NegativeOne, sp.true, sp.false, sp.S.Infinity,
             sp.S.NegativeInfinity, sp.S.ComplexInfinity, sp.S.NaN]
    return {type(a).__name__: a for a in atoms}


def build_sympy(tree, depth: int = 0):
    """A sympy expression from the kernel's tree, built only from whitelisted classes."""
    import sympy as sp

    if depth > 60 or not isinstance(tree, list) or not tree or not isinstance(tree[0], str):
        raise JudgeError("malformed expression")
    head = tree[0]
    if head == "Symbol":
        assumptions = {k: v for k, v in tree[2].items() if isinstance(k, str) and
                       isinstance(v, bool)} if isinstance(tree[2], dict) else {}
        return sp.Symbol(str(tree[1]), **assumptions)
    if head == "Integer":
        return sp.Integer(int(tree[1]))
    if head == "Rational":
        return sp.Rational(int(tree[1]), int(tree[2]))
    if head == "Float":
        return sp.Float(str(tree[1]))
    if head == "Atom":
        atom = _sympy_atoms().get(tree[1])
        if atom is None:
            raise JudgeError(f"unsupported constant {tree[1]!r}")
        return atom
    cls = _sympy_classes().get(head)
    if cls is None:
        raise JudgeError(f"unsupported sympy operation {head!r}: write the answer with "
                         "elementary functions")
    args = [build_sympy(a, depth + 1) for a in tree[1:]]
    if head in ("Add", "Mul", "Pow"):
        return cls(*args, evaluate=False)
    return cls(*args)


# ------------------------------------------------------------------------ the connection ------
class KernelChannel:
    """Requests to the agent in a running kernel, over nbclient's kernel client."""

    def __init__(self, kc, timeout: float):
        self.kc, self.timeout = kc, timeout
        self.installed = False
        self.comm_id: str | None = None       # the agent's comm, once open

    async def _exchange(self, msg_type: str, content: dict, metadata: dict | None = None,
                        shell_reply: bool = False) -> dict | str | None:
        """Send one shell message and read its outputs until the kernel is idle again: the reply
        (a :data:`MIME` display, or the ``reply`` of a comm message), the comm's ``ready``, an
        error, or ``None``."""
        msg = self.kc.session.msg(msg_type, content, metadata=metadata or {})
        self.kc.shell_channel.send(msg)
        msg_id = msg["header"]["msg_id"]
        deadline = time.monotonic() + self.timeout
        reply, idle = None, False
        while not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise JudgeError(f"the kernel did not answer within {self.timeout:.0f} s")
            try:
                msg = await self.kc.get_iopub_msg(timeout=min(remaining, 5))
            except Exception:  # noqa: BLE001 - queue.Empty: check the deadline again
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "display_data" and MIME in msg["content"].get("data", {}):
                reply = msg["content"]["data"][MIME]
            elif kind == "comm_msg" and msg["content"].get("comm_id") == self.comm_id:
                data = msg["content"].get("data") or {}
                reply = data.get("reply", "ready" if data.get("ready") is True else None)
            elif kind == "error" and reply is None:
                reply = {"__kernel_error__": (msg["content"].get("ename"),
                                              msg["content"].get("evalue"))}
            elif kind == "status" and msg["content"].get("execution_state") == "idle":
                idle = True
        if shell_reply:
            # the shell reply, so that nbclient never reads it for a later cell
            with contextlib.suppress(Exception):
                while True:
                    msg = await self.kc.get_shell_msg(timeout=1)
                    if msg["parent_header"].get("msg_id") == msg_id:
                        break
        return reply

    def _send(self, msg_type: str, content: dict, metadata: dict | None = None,
              shell_reply: bool = False):
        from nbclient.util import run_sync

        return run_sync(self._exchange)(msg_type, content, metadata, shell_reply)

    def execute(self, code: str, metadata: dict | None = None):
        content = {"code": code, "silent": False, "store_history": False,
                   "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}
        return self._send("execute_request", content, metadata, shell_reply=True)

    def _install(self) -> None:
        """The agent, then its comm; without comms in the kernel, requests go as execute
        requests, with the payload in the message's metadata (not in the code, which IPython
        would tokenise and compile: for a batch of images, ten times as long as the call)."""
        self.execute(AGENT_SOURCE)
        self.installed = True
        comm_id = uuid.uuid4().hex
        self.comm_id = comm_id
        ready = self._send("comm_open", {"comm_id": comm_id, "target_name": COMM_TARGET,
                                         "data": {}})
        if ready != "ready":
            self.comm_id = None

    def request(self, req: dict) -> dict:
        if not self.installed:
            self._install()
        buf = io.BytesIO()
        torch.save(req, buf)
        payload = base64.b64encode(buf.getvalue()).decode()
        if self.comm_id:
            raw = self._send("comm_msg", {"comm_id": self.comm_id, "data": {"request": payload}})
        else:
            raw = self.execute("__dgm_judge_agent__.handle()", {REQUEST_KEY: payload})
        if raw is None:
            raise JudgeError("the kernel gave no answer (the judge's agent is gone)")
        if isinstance(raw, dict):
            raise JudgeError("the kernel could not run the judge's request: "
                             f"{raw['__kernel_error__'][0]}: {raw['__kernel_error__'][1]}")
        if not isinstance(raw, str) or len(raw) > MAX_REPLY_BYTES:
            raise JudgeError("the kernel's answer was too large or malformed")
        try:
            reply = torch.load(io.BytesIO(base64.b64decode(raw)), weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise JudgeError(f"the kernel's answer could not be read as data ({e})") from None
        if not isinstance(reply, dict) or "status" not in reply:
            raise JudgeError("the kernel's answer was malformed")
        return reply


# ------------------------------------------------------------------------ remote objects ------
class Session:
    """One judged notebook: the channel, the handles it has seen, and the results it can take
    gradients of."""

    def __init__(self, channel: KernelChannel):
        self.channel = channel
        self.results: dict[int, tuple[int, list, dict]] = {}     # id(tensor) -> (result id, args)
        self.keep: list[Any] = []                                   # keeps ids valid
        self.sent: dict[int, nn.Module] = {}      # the check networks sent to the kernel, by token
        self.swaps: dict[int, Any] = {}           # proxy number -> the judge's callable
        self.graphs: dict[int, tuple] = {}        # a proxy's answer -> (its value, its inputs)

    # ---------------------------------------------------------------- requests ----------------
    def request(self, req: dict) -> dict:
        """The kernel's reply to ``req``, answering on the way the questions its isolated helpers
        ask (:meth:`with_globals`)."""
        reply = self.channel.request(req)
        while reply.get("status") == "callback":
            reply = self.channel.request({"op": "resume",
                                          "answer": self.answer(reply.get("question"))})
        return reply

    def with_globals(self, fn, replacements: dict):
        """The student's function ``fn`` with the global names of ``replacements`` (graded helpers
        it calls) answered by the judge's callables (the references, or a check's stand-ins), so
        that a mistake in a helper costs its own points only. The copy is made in the kernel; its
        helpers there are proxies that ask the judge for their values and gradients."""
        if not isinstance(fn, Remote) or fn.kind != "function" or not replacements:
            return fn
        names = {}
        for name, replacement in replacements.items():
            number = len(self.swaps) + 1
            self.swaps[number] = replacement
            names[name] = number
        reply = self.request({"op": "swap", "target": fn.ref, "names": names})
        if reply["status"] != "ok":
            raise _remote_exception(str(reply.get("ename")), str(reply.get("evalue")))
        return self.value(reply["value"])

    def answer(self, question) -> dict:
        """The judge's answer to a proxy in the kernel: a helper's value on the inputs the
        student's code gave it, or a vector-Jacobian product through that value."""
        from torch.utils import _pytree

        if not isinstance(question, dict):
            raise JudgeError("malformed question from the kernel")
        try:
            if question.get("kind") == "call":
                fn = self.swaps[int(question["cb"])]
                memo: dict = {}
                args = [_unstood(self.value(a), memo) for a in question["args"]]
                kwargs = {str(k): _unstood(self.value(a), memo)
                          for k, a in question["kwargs"].items()}
                with torch.enable_grad():
                    out = fn(*args, **kwargs)
                graph = isinstance(out, torch.Tensor) and out.requires_grad
                token = len(self.graphs) + 1
                if graph:
                    leaves = [t for t in _pytree.tree_leaves((args, kwargs))
                              if isinstance(t, torch.Tensor) and t.requires_grad]
                    self.graphs[token] = (out, leaves)
                return {"value": self.encode(_plain(out), []), "graph": graph, "token": token}
            if question.get("kind") == "vjp":
                out, leaves = self.graphs[int(question["token"])]
                grad_out = self.value(question["grad"])
                if not leaves:
                    return {"grads": []}
                grads = torch.autograd.grad(out, leaves, grad_outputs=grad_out.to(out.dtype),
                                            retain_graph=True, allow_unused=True)
                return {"grads": [None if g is None else _plain(g) for g in grads]}
        except JudgeError:
            raise
        except Exception as e:  # noqa: BLE001 - raised in the student's code, which called it
            return {"error": (type(e).__name__, str(e)[:2000])}
        raise JudgeError("malformed question from the kernel")

    def forget(self) -> None:
        """Drop what one test cell's isolated helpers kept."""
        self.swaps.clear()
        self.graphs.clear()
        self.sent.clear()

    # ---------------------------------------------------------------- values from the kernel --
    def value(self, d):
        if d is None or isinstance(d, (bool, int, float, str, complex)):
            return d
        if isinstance(d, list):
            return [self.value(x) for x in d]
        if not isinstance(d, dict):
            raise JudgeError("malformed value from the kernel")
        if "__tensor__" in d:
            t = d["__tensor__"]
            if not isinstance(t, torch.Tensor):
                raise JudgeError("malformed tensor")
            if d.get("requires_grad"):
                t.requires_grad_(True)
            return t
        if "__meta__" in d:
            t = torch.empty(d["__meta__"], dtype=getattr(torch, d["dtype"], torch.float32),
                            device="meta")
            return t.requires_grad_(True) if d.get("requires_grad") and \
                t.is_floating_point() else t
        if "__judge_object__" in d:
            obj = self.sent.get(d["__judge_object__"])
            if obj is None:
                raise JudgeError("the kernel named a network the judge did not send")
            return obj
        if "__ndarray__" in d:
            return d["__ndarray__"].numpy()
        if "__sympy__" in d:
            return build_sympy(d["__sympy__"])
        if "__number__" in d:       # a Fraction or a Decimal, rebuilt from its text
            import decimal
            import fractions

            try:
                kind = {"Fraction": fractions.Fraction, "Decimal": decimal.Decimal}[d["type"]]
                return kind(str(d["__number__"]))
            except (KeyError, ValueError, ArithmeticError):
                raise JudgeError("malformed number from the kernel") from None
        if "__tuple__" in d:
            return tuple(self.value(x) for x in d["__tuple__"])
        if "__set__" in d:
            return {self.value(x) for x in d["__set__"]}
        if "__dict__" in d:
            return {self.value(k): self.value(v) for k, v in d["__dict__"]}
        if "__record__" in d:
            return types.SimpleNamespace(**{k: self.value(v) for k, v in d["fields"].items()})
        if "__dtype__" in d:
            return getattr(torch, d["__dtype__"])
        if "__device__" in d:
            return torch.device(d["__device__"])
        if "__handle__" in d:
            if d.get("module_class"):
                return remote_module_class(self, d["__handle__"], str(d.get("name", "?")))
            return Remote(self, d["__handle__"], d.get("kind", "function"), d.get("name", "?"))
        if "__module__" in d:
            return mirror_module(self, d)
        if "__opaque__" in d:
            return Opaque(d.get("type", "?"), d.get("repr", ""))
        raise JudgeError("unknown value from the kernel")

    # ---------------------------------------------------------------- values to the kernel ----
    def encode(self, v, harness: list):
        if isinstance(v, (Remote,)):
            return {"__ref__": v.ref}
        if isinstance(v, MirrorModule):
            return {"__ref__": v._remote_ref}
        if isinstance(v, tuple):
            return {"__tuple__": [self.encode(x, harness) for x in v]}
        if isinstance(v, list):
            return [self.encode(x, harness) for x in v]
        if isinstance(v, dict):
            return {k: self.encode(x, harness) for k, x in v.items()}
        if isinstance(v, nn.Module):
            self.sent[id(v)] = v
            return {**_harness_payload(v), "token": id(v)}
        return v

    def call(self, ref: int, args, kwargs, method: str | None = None, push=None):
        harness: list = []
        req = {"op": "call", "target": ref, "method": method,
               "args": [self.encode(a, harness) for a in args],
               "kwargs": {k: self.encode(a, harness) for k, a in kwargs.items()},
               "push": push or {}}
        reply = self.request(req)
        if reply["status"] == "error":
            raise _remote_exception(str(reply.get("ename")), str(reply.get("evalue")))
        if reply["status"] != "ok":
            raise JudgeError("unexpected reply")
        self.sync(args, reply.get("args", []))
        self.sync(list(kwargs.values()), [reply.get("kwargs", {}).get(k) for k in kwargs])
        result = self.value(reply["value"])
        rid = reply["result_id"]
        self.track(result, rid, args, kwargs)
        return result

    def track(self, result, rid, args, kwargs, index=None):
        if isinstance(result, torch.Tensor) and result.requires_grad:
            self.results[id(result)] = (rid, index, args, kwargs)
            self.keep.append(result)
        elif isinstance(result, tuple) and index is None:
            for i, r in enumerate(result):
                self.track(r, rid, args, kwargs, i)

    def sync(self, objs, states) -> None:
        """Mirror in the judge's objects what the call changed in the kernel's copies."""
        for obj, state in zip(objs, states):
            if not state:
                continue
            if isinstance(obj, torch.Tensor) and state.get("kind") == "tensor":
                new = self.value(state["value"])
                with torch.no_grad():
                    if new.shape == obj.shape and obj.device.type != "meta":
                        obj.copy_(new.to(obj.dtype))
                if obj.is_leaf and obj.device.type != "meta":
                    obj.requires_grad_(bool(state["value"].get("requires_grad")))
                    obj.grad = None if state["grad"] is None else \
                        self.value(state["grad"]).detach().to(obj.dtype)
            elif isinstance(obj, nn.Module) and state.get("kind") == "module":
                params = dict(obj.named_parameters(remove_duplicate=False))
                for name, p_state in state["params"].items():
                    p = params.get(name)
                    if p is None or p.device.type == "meta":
                        continue
                    with torch.no_grad():
                        v = self.value(p_state["value"]).detach()
                        if v.shape == p.shape:
                            p.copy_(v.to(p.dtype))
                    p.requires_grad_(bool(p_state["requires_grad"]))
                    p.grad = None if p_state["grad"] is None else \
                        self.value(p_state["grad"]).detach().to(p.dtype)
                obj.train(bool(state.get("training", obj.training)))
                if not isinstance(obj, MirrorModule):      # a check's own test network
                    for k, v in (state.get("attrs") or {}).items():
                        if v is not None and not k.startswith("_") and \
                                not isinstance(getattr(type(obj), k, None), property):
                            with contextlib.suppress(Exception):
                                object.__setattr__(obj, k, self.value(v))

    def backward(self, out: torch.Tensor, reduce: str | None) -> bool:
        entry = self.results.get(id(out))
        if entry is None:
            return False
        rid, index, args, kwargs = entry
        reply = self.request({"op": "backward", "target": rid, "index": index,
                                      "reduce": reduce})
        if reply["status"] == "error":
            raise _remote_exception(str(reply.get("ename")), str(reply.get("evalue")))
        self.sync(args, reply.get("args", []))
        self.sync(list(kwargs.values()), [reply.get("kwargs", {}).get(k) for k in kwargs])
        return True

    def grad(self, out: torch.Tensor, inputs, reduce: str | None):
        entry = self.results.get(id(out))
        if entry is None:
            return None
        rid, index, args, kwargs = entry
        where = []
        for t in inputs:
            pos = next((i for i, a in enumerate(args) if a is t), None)
            if pos is None:
                pos = next((k for k, a in kwargs.items() if a is t), None)
            if pos is None:
                raise JudgeError("a gradient was asked for with respect to a tensor the student's "
                                 "function was not given")
            where.append(pos)
        reply = self.request({"op": "grad", "target": rid, "index": index,
                                      "reduce": reduce, "inputs": where})
        if reply["status"] == "error":
            raise _remote_exception(str(reply.get("ename")), str(reply.get("evalue")))
        return tuple(None if g is None else self.value(g).detach() for g in reply["grads"])

    def fetch(self, name: str):
        reply = self.request({"op": "get", "name": name})
        if reply["status"] == "missing":
            raise NameError(f"name '{name}' is not defined: run the cell that defines it, and "
                            "keep the name the task asks for")
        if reply["status"] != "ok":
            raise _remote_exception(str(reply.get("ename")), str(reply.get("evalue")))
        return self.value(reply["value"])


def _plain(value):
    """A value to send to the kernel: tensors detached and of the plain tensor class."""
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return value.as_subclass(torch.Tensor) if type(value) is not torch.Tensor else value
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _unstood(value, memo: dict):
    """An input of a judge-side helper without device stand-ins: a device check's network (whose
    parameters are stand-ins) as a plain copy. The helper computes on plain CPU values; the kernel
    puts its answer back on the stand-in (``like`` in the agent)."""
    import copy

    if isinstance(value, torch.Tensor) and type(value) is not torch.Tensor and \
            value.device.type == "meta" and value.layout == torch.strided:
        with contextlib.suppress(Exception):
            with torch._C.DisableTorchFunctionSubclass():
                return value.detach().as_subclass(torch.Tensor).requires_grad_(value.requires_grad)
    if isinstance(value, nn.Module) and not isinstance(value, MirrorModule) and any(
            type(t) not in (torch.Tensor, nn.Parameter) for t in value.parameters()):
        if id(value) not in memo:
            net = copy.deepcopy(value)
            for m in net.modules():
                for k, t in list(m._parameters.items()):
                    if t is not None:
                        with torch._C.DisableTorchFunctionSubclass():
                            plain = t.detach().as_subclass(torch.Tensor).clone()
                        m._parameters[k] = nn.Parameter(plain, requires_grad=t.requires_grad)
                for k, t in list(m._buffers.items()):
                    if t is not None:
                        with torch._C.DisableTorchFunctionSubclass():
                            m._buffers[k] = t.detach().as_subclass(torch.Tensor).clone()
            memo[id(value)] = net
        return memo[id(value)]
    if isinstance(value, (list, tuple)):
        return type(value)(_unstood(v, memo) for v in value)
    return value


class Opaque:
    """A kernel object the judge cannot use (shown by its type and repr)."""

    def __init__(self, type_name: str, text: str):
        self.type_name, self.text = type_name, text

    def __repr__(self) -> str:
        return self.text or f"<{self.type_name}>"


class Remote:
    """The student's function or class, living in the kernel."""

    def __init__(self, session: Session, ref: int, kind: str, name: str):
        self._session, self.ref, self.kind, self.__name__ = session, ref, kind, name
        self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._session.call(self.ref, args, kwargs)

    def __repr__(self) -> str:
        return f"<student {self.kind} {self.__name__}>"


def remote_module_class(session: Session, ref: int, name: str) -> type:
    """The student's ``nn.Module`` subclass as a judge-side class: ``issubclass(cls, nn.Module)``
    holds, and calling it builds the network in the kernel and returns its :class:`MirrorModule`."""

    def __new__(cls, *args, **kwargs):
        return session.call(ref, args, kwargs)

    return type(name.rpartition(".")[2] or "Student", (nn.Module,),
                {"__new__": __new__, "__qualname__": name, "__module__": "__student__",
                 "_remote_ref": ref})


def _rebuild_layer(type_path: str, attrs: dict) -> nn.Module | None:
    """A standard ``torch.nn`` layer from its class path and attributes (no code from the kernel
    runs: only classes defined by torch itself are instantiated)."""
    module_name, _, qualname = type_path.rpartition(".")
    if not module_name.startswith("torch.nn.modules.") or "." in qualname:
        return None
    cls = getattr(sys.modules.get(module_name) or importlib.import_module(module_name), qualname,
                  None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)) or cls.__module__ != module_name:
        return None
    layer = cls.__new__(cls)
    nn.Module.__init__(layer)
    for k, v in attrs.items():
        if isinstance(v, list):
            v = tuple(v)
        object.__setattr__(layer, k, v)
    return layer


class MirrorModule(nn.Module):
    """The student's network as the judge sees it: its submodules rebuilt (standard layers as
    themselves, the student's own classes as mirrors), the student's weights, and a ``forward``
    that runs in the kernel with the mirror's current weights."""

    def __init__(self, session: Session, ref: int, type_name: str, text: str):
        super().__init__()
        object.__setattr__(self, "_session", session)
        object.__setattr__(self, "_remote_ref", ref)
        object.__setattr__(self, "_type_name", type_name)
        object.__setattr__(self, "_text", text)

    def forward(self, *args, **kwargs):
        push = {str(self._remote_ref): {k: p.detach() for k, p in
                                        self.named_parameters(remove_duplicate=False)}}
        return self._session.call(self._remote_ref, args, kwargs, push=push)

    def __repr__(self) -> str:
        return self._text or f"{self._type_name}()"


def _remote_method(session: Session, ref: int, name: str):
    """A method of the student's network, run in the kernel (on the kernel's copy)."""

    def method(*args, **kwargs):
        return session.call(ref, args, kwargs)

    method.__name__ = name
    return method


def mirror_module(session: Session, d: dict) -> nn.Module:
    nodes = d["nodes"]
    built: dict[str, nn.Module] = {}
    root = None
    for node in nodes:
        name = node["name"]
        layer = None if name == "" else _rebuild_layer(node["type"], node["attrs"])
        if layer is None:
            layer = MirrorModule(session, d["__module__"] if name == "" else -1,
                                 node["type"].rpartition(".")[2], node.get("repr", ""))
            for k, v in node["attrs"].items():
                if k not in ("training",) and not hasattr(nn.Module, k):
                    object.__setattr__(layer, k, tuple(v) if isinstance(v, list) else v)
            for k, ref in node.get("methods", {}).items():
                if not hasattr(nn.Module, k):
                    object.__setattr__(layer, k, _remote_method(session, ref, k))
        for k, t in node["params"].items():
            layer.register_parameter(k, nn.Parameter(session.value(t).detach(),
                                                     requires_grad=True))
        for k, t in node["buffers"].items():
            layer.register_buffer(k, session.value(t).detach())
        layer.train(bool(node.get("training", True)))
        if name == "":
            root = layer
        else:
            parent, _, leaf = name.rpartition(".")
            built.get(parent, root).add_module(leaf, layer)
        built[name] = layer
    return root


def _harness_payload(module: nn.Module) -> dict:
    """A network the judge built (a check's tiny test network) as a pickle the kernel can load:
    standard layers as themselves, check-defined classes by their source."""
    sources, seen = [], set()
    for m in module.modules():
        cls = type(m)
        if cls.__module__.startswith("torch.") or cls in seen:
            continue
        seen.add(cls)
        sources.append(inspect.getsource(cls))
    fake = types.ModuleType("__dgm_harness__")
    saved = {}
    for cls in seen:
        saved[cls] = cls.__module__
        setattr(fake, cls.__qualname__, cls)
        cls.__module__ = "__dgm_harness__"
    previous = sys.modules.get("__dgm_harness__")
    sys.modules["__dgm_harness__"] = fake
    try:
        buf = io.BytesIO()
        torch.save(module, buf, pickle_protocol=pickle.DEFAULT_PROTOCOL)
    finally:
        for cls, mod in saved.items():
            cls.__module__ = mod
        if previous is None:
            sys.modules.pop("__dgm_harness__", None)
        else:
            sys.modules["__dgm_harness__"] = previous
    return {"__harness__": buf.getvalue(), "sources": sources}


# ------------------------------------------------------------------------ judging a cell ------
def names_used(source: str) -> list[str]:
    """Names a cell reads that it does not assign itself, in order of first use."""
    tree = ast.parse(source)
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
              and isinstance(n.ctx, ast.Store)}
    seen: list[str] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load) and n.id not in seen \
                and n.id not in stored and not hasattr(builtins, n.id):
            seen.append(n.id)
    return seen


def checks_module_of(setup_source: str) -> str | None:
    """The staff checks of a notebook, from the student module its set-up cell imports
    (``from dgm.checks import gan as checks`` -> ``grader_tests.gan``)."""
    tree = ast.parse(setup_source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("dgm.checks", "grader_tests"):
            for alias in node.names:
                if (alias.asname or alias.name) == "checks":
                    return f"grader_tests.{alias.name}"
    return None


class Judge:
    """Decides a notebook's graded test cells against its kernel (see the module docstring)."""

    def __init__(self, kc, checks_module: str | None, timeout: float):
        self.session = Session(KernelChannel(kc, timeout))
        self.checks = importlib.import_module(checks_module) if checks_module else None
        _checks_common().REMOTE = self.session

    def run_cell(self, source: str) -> BaseException | None:
        """Run a test cell's whole source; the exception it raised, or None if it passed."""
        ns: dict[str, Any] = {"__name__": "__judge__", "__builtins__": builtins}
        if self.checks is not None:
            ns["checks"] = self.checks
        try:
            for name in names_used(source):
                if name in ns:
                    continue
                if name in LOCAL_MODULES:
                    ns[name] = importlib.import_module(LOCAL_MODULES[name])
                    continue
                ns[name] = self.session.fetch(name)
            code = compile(source, "<test cell>", "exec")
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(
                    io.StringIO()):
                exec(code, ns)  # noqa: S102 - the cell's source comes from the gradebook
        except BaseException as e:  # noqa: BLE001 - any failure is the cell's verdict
            if isinstance(e, KeyboardInterrupt):
                raise
            return e
        finally:
            self.session.forget()
        return None

    def close(self) -> None:
        _checks_common().REMOTE = None


def _checks_common():
    """The checks' shared helpers, whose ``backward``/``grad`` ask :attr:`REMOTE` to take
    gradients in the kernel for values the student's code returned."""
    from dgm.checks import common as core
    return core


def verdict_output(error: BaseException) -> dict:
    """The error output a failed judged cell gets (the check's own message, no traceback)."""
    ename = type(error).__name__
    evalue = str(error)
    if isinstance(error, RecursionError):
        evalue = "the check recursed too deeply"
    return {"output_type": "error", "ename": ename, "evalue": evalue,
            "traceback": [f"{ename}: {evalue}"]}


__all__ = ["Judge", "JudgeError", "Remote", "MirrorModule", "checks_module_of", "names_used",
           "verdict_output", "build_sympy", "math"]
