"""A user's dashboard: GET one API path every 50 ms, as its own program, until stdin closes.

    python -m bench.api_probe --lab LAB --path /interlink/v1beta1/regions/fr-par/links/ID

Prints one JSON object at the end: ``{"latencies": [seconds...], "errors": [...]}``. It runs
as a separate process, in its own session, because that is what a dashboard is: a probe
thread inside the benchmark would measure the benchmark's own GIL (its SDK calls and the
polling of 100 links' status) rather than the lab's answer time.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import sys
import time

from lab.control.client import Client

INTERVAL = 0.05


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.api_probe")
    ap.add_argument("--lab", required=True)
    ap.add_argument("--path", required=True)
    args = ap.parse_args(argv)
    client = Client.for_lab(args.lab)
    sel = selectors.DefaultSelector()
    sel.register(sys.stdin, selectors.EVENT_READ)
    latencies: list[float] = []
    errors: list[str] = []
    while True:
        t0 = time.perf_counter()
        try:
            client.get(args.path)
        except Exception as exc:  # a failed call is a result, kept as such
            errors.append(repr(exc))
            break
        latencies.append(time.perf_counter() - t0)
        if sel.select(INTERVAL) and not os.read(sys.stdin.fileno(), 1 << 12):
            break  # the benchmark closed our stdin: the measure is over
    json.dump({"latencies": latencies, "errors": errors}, sys.stdout)


if __name__ == "__main__":
    main()
