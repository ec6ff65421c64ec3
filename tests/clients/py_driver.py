#!/usr/bin/env python3
"""Real-client integration driver using the Python `mcp` SDK 2.3.0.

Runs: connect (initialize or server/discover) -> tools/list (assert `echo`)
-> tools/call echo -> resources/read -> subscribe + touch_resource + wait for
notifications/resources/updated -> prompts/get.  Prints a JSON summary on stdout,
exits 0 only if every step passed.

Usage:
  py_driver.py --url http://127.0.0.1:8765/mcp --era 2025-11-25
  py_driver.py --url http://127.0.0.1:8765/mcp --era 2026-07-28
  py_driver.py --era 2025-11-25 -- /path/to/server --stdio      (stdio: command after --)
  py_driver.py --stdio-cmd "/path/to/server --stdio" --era 2026-07-28

--era: 2025-11-25 -> Client(mode="legacy")  initialize handshake (+ notifications/initialized), stateful
       2026-07-28 -> Client(mode="auto")    server/discover probe, then REQUIRE negotiated 2026-07-28
                     (fails instead of silently falling back to initialize)
       2026-07-28 --pin -> Client(mode="2026-07-28")  no probe at all: adopts a synthesized
                     DiscoverResult (empty capabilities) and goes straight to per-request envelopes
       auto       -> Client(mode="auto")    whatever the probe yields (either era accepted)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import traceback
import warnings
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.subscriptions import ResourceUpdated
from mcp.shared.exceptions import MCPDeprecationWarning

# ---- fixture names exposed by the server under test (edit here) -----------
ECHO_TOOL = "greet"
ECHO_ARGS = {"name": "hello"}
ECHO_EXPECTED = "Hello, hello!"
STATIC_RESOURCE = "test://static-text"
DEFAULT_SUBSCRIBE_URI = "test://watched-resource"
TOUCH_TOOL = "test_update_resource"  # called with {"uri": <subscribe uri>}
PROMPT_NAME = "test_simple_prompt"
NOTIFY_TIMEOUT_S = 5.0
# ---------------------------------------------------------------------------

ERA_TO_MODE = {"2025-11-25": "legacy", "2026-07-28": "auto", "auto": "auto"}

warnings.simplefilter("ignore", MCPDeprecationWarning)  # subscribe_resource is deprecated at 2026-07-28


def describe(exc: BaseException) -> str:
    """Flatten anyio/TaskGroup ExceptionGroups down to their leaf errors."""
    if isinstance(exc, BaseExceptionGroup):
        return " | ".join(describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


class Driver:
    def __init__(self, args: argparse.Namespace):
        self.a = args
        self.steps: list[dict[str, Any]] = []
        self.raw_updates: list[str] = []  # URIs of notifications/resources/updated seen by message_handler
        self.update_seen = anyio.Event()
        self.other_notifications: list[str] = []
        self.transport_errors: list[str] = []

    # message_handler receives every ServerNotification the session surfaces (both eras)
    # plus transport-level Exceptions.
    async def message_handler(self, msg: Any) -> None:
        if isinstance(msg, Exception):
            self.transport_errors.append(repr(msg))
            return
        if isinstance(msg, types.ResourceUpdatedNotification):
            self.raw_updates.append(str(msg.params.uri))
            if str(msg.params.uri) == self.a.subscribe_uri:
                self.update_seen.set()
        else:
            self.other_notifications.append(getattr(msg, "method", type(msg).__name__))

    async def step(self, name: str, fn: Any) -> Any:
        t0 = time.monotonic()
        rec: dict[str, Any] = {"step": name}
        try:
            detail = await fn
            rec.update(ok=True, detail=detail)
        except BaseException as exc:  # noqa: BLE001 - report everything
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            rec.update(ok=False, error=describe(exc))
            if self.a.verbose:
                rec["traceback"] = traceback.format_exc()
        rec["ms"] = round((time.monotonic() - t0) * 1000, 1)
        self.steps.append(rec)
        return rec

    def make_target(self) -> Any:
        if self.a.url:
            return self.a.url
        cmd = self.a.cmd
        if not cmd:
            raise SystemExit("need --url, --stdio-cmd or a command after --")
        # NB: stdio_client passes the child only a safe env subset (HOME, LOGNAME, PATH, SHELL, TERM,
        # USER) merged with `env`; anything else (RUST_LOG, config vars...) must be given explicitly.
        env = dict(os.environ) if self.a.inherit_env else {}
        for kv in self.a.env:
            k, _, v = kv.partition("=")
            env[k] = v
        return StdioServerParameters(command=cmd[0], args=cmd[1:], env=env or None)

    async def run(self) -> dict[str, Any]:
        mode = ERA_TO_MODE[self.a.era]
        if self.a.pin:
            if self.a.era != "2026-07-28":
                raise SystemExit("--pin only applies to --era 2026-07-28")
            mode = "2026-07-28"
        target = self.make_target()
        client = Client(
            target,
            mode=mode,
            message_handler=self.message_handler,
            cache=None,  # every call must hit the server
            read_timeout_seconds=self.a.timeout,
        )
        summary: dict[str, Any] = {
            "driver": "python-mcp-2.3.0",
            "transport": "http" if self.a.url else "stdio",
            "target": self.a.url or shlex.join(self.a.cmd),
            "requested_era": self.a.era + (" (pinned)" if self.a.pin else ""),
            "client_mode": mode,
        }
        try:
            with anyio.fail_after(self.a.overall_timeout):
                async with client:
                    summary["negotiated_protocol_version"] = client.protocol_version
                    sess = client.session
                    summary["handshake"] = (
                        "initialize"
                        if sess.initialize_result is not None
                        else ("adopted (no wire probe)" if mode not in ("auto", "legacy") else "server/discover")
                    )
                    if sess.discover_result is not None:
                        summary["discover_supported_versions"] = sess.discover_result.supported_versions
                    summary["server_info"] = (
                        client.server_info.model_dump(exclude_none=True) if client.server_info else None
                    )
                    summary["server_capabilities"] = client.server_capabilities.model_dump(
                        by_alias=True, exclude_none=True
                    )
                    rec = await self.step("connect", self._check_era(client))
                    if not rec["ok"]:
                        return self._finish(summary)  # wrong era: the remaining steps would test the wrong thing
                    await self.step("tools/list", self._list_tools(client))
                    await self.step("tools/call echo", self._call_echo(client))
                    await self.step("resources/read", self._read(client))
                    await self.step("subscribe+updated", self._subscribe(client))
                    await self.step("prompts/get", self._prompt(client))
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            self.steps.append({"step": "session", "ok": False, "error": describe(exc)})
            if self.a.verbose:
                self.steps[-1]["traceback"] = traceback.format_exc()
        return self._finish(summary)

    def _finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        summary["steps"] = self.steps
        summary["raw_resource_updated_uris"] = self.raw_updates
        summary["other_notifications"] = self.other_notifications
        if self.transport_errors:
            summary["transport_errors"] = self.transport_errors
        expected = {"connect", "tools/list", "tools/call echo", "resources/read", "subscribe+updated", "prompts/get"}
        done_ok = {s["step"] for s in self.steps if s.get("ok")}
        summary["ok"] = expected <= done_ok and all(s.get("ok") for s in self.steps)
        return summary

    # ---- steps -----------------------------------------------------------
    def _check_era(self, client: Client):
        async def f():
            pv = client.protocol_version
            if self.a.era != "auto" and pv != self.a.era:
                raise AssertionError(f"negotiated {pv!r}, wanted {self.a.era!r}")
            return {"protocol_version": pv}

        return f()

    def _list_tools(self, client: Client):
        async def f():
            names: list[str] = []
            cursor = None
            for _ in range(50):
                res = await client.list_tools(cursor=cursor)
                names += [t.name for t in res.tools]
                cursor = res.next_cursor
                if not cursor:
                    break
            if ECHO_TOOL not in names:
                raise AssertionError(f"tool {ECHO_TOOL!r} not in {names}")
            return {"tools": names}

        return f()

    def _call_echo(self, client: Client):
        async def f():
            res = await client.call_tool(ECHO_TOOL, dict(ECHO_ARGS))
            if res.is_error:
                raise AssertionError(f"isError result: {res.model_dump(by_alias=True, exclude_none=True)}")
            texts = [c.text for c in res.content if isinstance(c, types.TextContent)]
            if texts != [ECHO_EXPECTED]:
                raise AssertionError(f"expected text [{ECHO_EXPECTED!r}], got {texts}")
            return {"text": texts[0]}

        return f()

    def _read(self, client: Client):
        async def f():
            res = await client.read_resource(STATIC_RESOURCE)
            texts = [c.text for c in res.contents if isinstance(c, types.TextResourceContents)]
            if not texts or not texts[0]:
                raise AssertionError(f"no/empty text contents: {res.model_dump(by_alias=True, exclude_none=True)}")
            return {"uri": STATIC_RESOURCE, "text": texts[0][:200]}

        return f()

    def _subscribe(self, client: Client):
        uri = self.a.subscribe_uri

        async def legacy():
            # 2025-11-25: resources/subscribe, then the notification arrives as an
            # unsolicited server notification -> message_handler.
            await client.subscribe_resource(uri)
            t0 = time.monotonic()
            await client.call_tool(TOUCH_TOOL, {"uri": uri})
            with anyio.fail_after(NOTIFY_TIMEOUT_S):
                await self.update_seen.wait()
            latency = round((time.monotonic() - t0) * 1000, 1)
            try:
                await client.unsubscribe_resource(uri)
                unsub = "ok"
            except Exception as exc:  # noqa: BLE001 - optional
                unsub = f"failed: {exc}"
            return {"mechanism": "resources/subscribe", "uri": uri, "latency_ms": latency, "unsubscribe": unsub}

        async def modern():
            # 2026-07-28: resources/subscribe is gone. subscriptions/listen opens a long-lived
            # request whose response stream carries notifications/subscriptions/acknowledged, then
            # notifications/resources/updated frames stamped with
            # _meta["io.modelcontextprotocol/subscriptionId"] = <listen request id>.
            async with client.listen(resource_subscriptions=[uri]) as sub:
                honored = sub.honored.model_dump(by_alias=True, exclude_none=True)
                if uri not in (sub.honored.resource_subscriptions or []):
                    raise AssertionError(f"server did not honor subscription to {uri!r}: {honored}")
                t0 = time.monotonic()
                await client.call_tool(TOUCH_TOOL, {"uri": uri})
                with anyio.fail_after(NOTIFY_TIMEOUT_S):
                    async for ev in sub:
                        if isinstance(ev, ResourceUpdated) and ev.uri == uri:
                            break
                    else:
                        raise AssertionError("listen stream ended before the update arrived")
                latency = round((time.monotonic() - t0) * 1000, 1)
                # the same frame is also teed to message_handler; give it a moment
                with anyio.move_on_after(1.0):
                    await self.update_seen.wait()
                return {
                    "mechanism": "subscriptions/listen",
                    "uri": uri,
                    "subscription_id": sub.subscription_id,
                    "honored": honored,
                    "latency_ms": latency,
                    "teed_to_message_handler": self.update_seen.is_set(),
                }

        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        return modern() if client.protocol_version in MODERN_PROTOCOL_VERSIONS else legacy()

    def _prompt(self, client: Client):
        async def f():
            res = await client.get_prompt(PROMPT_NAME)
            if not res.messages:
                raise AssertionError("prompt returned no messages")
            m0 = res.messages[0]
            return {"messages": len(res.messages), "first_role": m0.role, "first_content_type": m0.content.type}

        return f()


def main() -> int:
    argv = sys.argv[1:]
    cmd: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1 :]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="Streamable HTTP endpoint, e.g. http://127.0.0.1:8765/mcp")
    ap.add_argument("--stdio-cmd", help="server command line for stdio (shell-split); or put it after --")
    ap.add_argument("--era", choices=list(ERA_TO_MODE), default="2025-11-25")
    ap.add_argument("--pin", action="store_true", help="with --era 2026-07-28: skip server/discover (mode pin)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VAL", help="stdio: extra env for the server")
    ap.add_argument("--inherit-env", action="store_true", help="stdio: pass this process's whole environment")
    ap.add_argument("--subscribe-uri", default=DEFAULT_SUBSCRIBE_URI)
    ap.add_argument("--timeout", type=float, default=10.0, help="per-request read timeout (s)")
    ap.add_argument("--overall-timeout", type=float, default=60.0)
    ap.add_argument("-v", "--verbose", action="store_true", help="include tracebacks in the summary")
    a = ap.parse_args(argv)
    a.cmd = shlex.split(a.stdio_cmd) if a.stdio_cmd else cmd
    if bool(a.url) == bool(a.cmd):
        ap.error("give exactly one of --url or a stdio command (--stdio-cmd / after --)")
    summary = anyio.run(Driver(a).run)
    print(json.dumps(summary, indent=2, default=str))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
