"""A run-time control channel for the lab's emulators: a loopback TCP line protocol.

One command per line (UTF-8, ``\\n``-terminated, words separated by spaces), one reply line per command,
as long as the connection stays open; several clients may be connected at once. Replies:

- ``ok`` or ``ok: <what was done>`` for a command that changed something;
- a JSON object on one line for a query (``status``);
- ``error: <message>`` for a command refused, malformed or unknown (the message names it).

The channel knows no device: an emulator registers its commands (``ControlServer.register``), usually the
standard trio ``fault SPEC…``, ``clear [KIND…]`` and ``status`` through :func:`register_fault_commands`.
``help`` is built in. Handlers run on the connection's thread, one command at a time over all clients.

It listens on loopback only: it injects faults and has no authentication.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_LINE = 4096
"""Longest command line accepted, in bytes."""
CLIENT_TIMEOUT = 5.0
"""Seconds ``send_command`` waits to connect and for the reply."""
ERROR_PREFIX = "error:"

Handler = Callable[[list[str]], object]
"""Gets the command's arguments (the words after its name); returns the reply: None -> ``ok``, a str (one
line), or a mapping/list (sent as one JSON line). Raises ControlError or ValueError to refuse."""


class ControlError(Exception):
    """A command refused by its handler; the reply is ``error: <message>``."""


class ControlAddressError(ValueError):
    """A control address that is not HOST:PORT on loopback."""


@dataclass(frozen=True, slots=True)
class _Command:
    handler: Handler
    usage: str


def parse_control_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (port 0: any free port) -> (host, port); the host must be a loopback address."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 0xFFFF:
        raise ControlAddressError(f"control address {text!r} is not HOST:PORT")
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ControlAddressError(
                f"control address {text!r}: the control channel listens on loopback only "
                "(127.0.0.1, ::1 or localhost)"
            )
    return host, int(port)


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).splitlines()) or type(exc).__name__


def _reply_line(result: object) -> str:
    if result is None:
        return "ok"
    if isinstance(result, str):
        return " ".join(result.splitlines()) or "ok"
    return json.dumps(result, ensure_ascii=False, separators=(", ", ": "), sort_keys=False, default=str)


class ControlServer:
    """The control channel of one emulator, served by background threads::

    control = ControlServer("127.0.0.1:0", name="fn control")
    control.register("ping", lambda args: "pong", usage="ping")
    address = control.start()        # "127.0.0.1:PORT"
    send_command(address, "ping")    # -> "pong"
    control.stop()
    """

    def __init__(self, address: str = "127.0.0.1:0", *, name: str = "control") -> None:
        self._bind = parse_control_address(address)
        self.name = name
        self.address: str | None = None
        self._commands: dict[str, _Command] = {}
        self._execute_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._clients: set[socket.socket] = set()
        self._client_threads: set[threading.Thread] = set()
        self._clients_lock = threading.Lock()

    # --- commands ----------------------------------------------------------------------------------

    def register(self, name: str, handler: Handler, *, usage: str = "") -> None:
        """Add the command ``name`` (one word, matched case-insensitively); ``usage`` is shown by ``help``
        and in argument errors. Registering a name again replaces it."""
        key = name.strip().lower()
        if not key or any(char.isspace() for char in key) or key == "help":
            raise ValueError(f"control command name {name!r}: one word, not 'help'")
        self._commands[key] = _Command(handler, usage or key)

    @property
    def commands(self) -> list[str]:
        return sorted([*self._commands, "help"])

    def execute(self, line: str) -> str:
        """Run one command line and return its reply line (what a client receives). Never raises."""
        words = line.split()
        if not words:
            return f"{ERROR_PREFIX} empty command (known: {', '.join(self.commands)})"
        name, args = words[0].lower(), words[1:]
        if name == "help":
            return "commands: " + "; ".join(
                ["help", *(self._commands[key].usage for key in sorted(self._commands))]
            )
        command = self._commands.get(name)
        if command is None:
            return f"{ERROR_PREFIX} unknown command {words[0]!r} (known: {', '.join(self.commands)})"
        try:
            with self._execute_lock:
                result = command.handler(args)
        except ControlError as exc:  # the arguments: show how the command goes
            return f"{ERROR_PREFIX} {name}: {_one_line(exc)} (usage: {command.usage})"
        except ValueError as exc:
            return f"{ERROR_PREFIX} {name}: {_one_line(exc)}"
        except Exception as exc:
            log.exception("%s: command %r failed", self.name, line)
            return f"{ERROR_PREFIX} {name}: internal error: {type(exc).__name__}: {exc}"
        return _reply_line(result)

    # --- serving -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Listen and serve in the background; return the ``HOST:PORT`` clients connect to."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name}: already started")
        host, port = self._bind
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=8)
        self._listener = listener
        bound_host, bound_port = listener.getsockname()[:2]
        self.address = f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}"
        self._stopping.clear()
        self._thread = threading.Thread(target=self._accept_loop, name=f"{self.name}-accept", daemon=True)
        self._thread.start()
        log.info("%s: listening on %s", self.name, self.address)
        return self.address

    def stop(self) -> None:
        """Stop listening, drop the clients, wait for the threads. Safe to call twice."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._clients_lock:
            clients, threads = list(self._clients), list(self._client_threads)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for thread in threads:
            thread.join()

    def __enter__(self) -> ControlServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                conn, peer = listener.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                log.exception("%s: accept failed", self.name)
                return
            thread = threading.Thread(
                target=self._serve_client, args=(conn, peer), name=f"{self.name}-client", daemon=True
            )
            with self._clients_lock:
                if self._stopping.is_set():
                    conn.close()
                    return
                self._clients.add(conn)
                self._client_threads.add(thread)
            thread.start()

    def _serve_client(self, conn: socket.socket, peer: object) -> None:
        try:
            with conn, conn.makefile("rb") as lines, conn.makefile("wb") as replies:
                while not self._stopping.is_set():
                    raw = lines.readline(MAX_LINE + 1)
                    if not raw:
                        return
                    if len(raw) > MAX_LINE and not raw.endswith(b"\n"):
                        replies.write(f"{ERROR_PREFIX} line longer than {MAX_LINE} bytes\n".encode())
                        replies.flush()
                        return
                    try:
                        line = raw.decode("utf-8").strip()
                    except UnicodeDecodeError:
                        line, reply = repr(raw), f"{ERROR_PREFIX} the command is not UTF-8"
                    else:
                        reply = self.execute(line)
                    log.info("%s: %s -> %s", self.name, line, reply)
                    replies.write(reply.encode("utf-8") + b"\n")
                    replies.flush()
        except OSError as exc:
            log.info("%s: client %s: %s", self.name, peer, exc)
        finally:
            with self._clients_lock:
                self._clients.discard(conn)
                self._client_threads.discard(threading.current_thread())


def register_fault_commands(
    control: ControlServer,
    *,
    set_fault: Callable[[str], object],
    clear_fault: Callable[[str | None], object],
    status: Callable[[], Mapping[str, object]],
    fault_usage: str = "fault KIND[:PARAM=N,…] …",
) -> None:
    """The standard commands of a device emulator:

    - ``fault SPEC [SPEC…]``: ``set_fault(spec)`` for each spec in turn (its text form, e.g.
      ``paper-out:after-bytes=300``); the reply is ``ok: fault <spec>[, <spec>…]``;
    - ``clear [KIND…]``: ``clear_fault(kind)`` for each kind, ``clear_fault(None)`` without one (all);
      the reply is ``ok: cleared <kinds>`` or ``ok: cleared all``;
    - ``status``: ``status()`` as one JSON line (say: the current faults and the counters).

    ``set_fault`` / ``clear_fault`` raise ValueError (or ControlError) for a spec they refuse; whatever
    they return is ignored.
    """

    def fault(args: list[str]) -> str:
        if not args:
            raise ControlError("name a fault")
        for spec in args:
            set_fault(spec)
        return f"ok: fault {', '.join(args)}"

    def clear(args: list[str]) -> str:
        if not args:
            clear_fault(None)
            return "ok: cleared all"
        for kind in args:
            clear_fault(kind)
        return f"ok: cleared {', '.join(args)}"

    def query(args: list[str]) -> Mapping[str, object]:
        if args:
            raise ControlError("takes no arguments")
        return status()

    control.register("fault", fault, usage=fault_usage)
    control.register("clear", clear, usage="clear [KIND …] (no KIND: all)")
    control.register("status", query, usage="status")


def send_command(address: str, command: str | Iterable[str], *, timeout: float = CLIENT_TIMEOUT) -> str:
    """Send one command to a control channel and return its reply line (without the newline).

    Raises OSError (ConnectionRefusedError, TimeoutError, …) when the channel cannot be reached or closes
    without replying, ControlAddressError for a malformed address.
    """
    host, port = parse_control_address(address)
    line = command if isinstance(command, str) else " ".join(command)
    if "\n" in line or "\r" in line:
        raise ValueError("a control command is one line")
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(line.encode("utf-8") + b"\n")
        with sock.makefile("rb") as replies:
            reply = replies.readline(64 * 1024)
    if not reply.endswith(b"\n"):
        raise ConnectionError(f"control channel {address}: closed without a full reply")
    return reply.decode("utf-8").rstrip("\r\n")


def is_error(reply: str) -> bool:
    """Whether a reply line reports an error."""
    return reply.startswith(ERROR_PREFIX)
