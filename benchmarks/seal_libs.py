"""Which age library: throughput and peak RSS on 64 MiB of incompressible input.

    python -m benchmarks.seal_libs [--mib 64]

Each case runs in a fresh child process (peak RSS is the child's
``ru_maxrss``; the baseline case only imports and reads the input in 1 MiB
blocks). The pure-Python ``age`` package is measured only when installed (it is
not a dependency: ``pip install age`` in a scratch venv to compare).
The ``@contended`` cases run a second thread doing nothing but pure-Python work
(a worst case: it never waits), to show the GIL hand-offs of pyrage's streaming
API, which calls back into Python every 8 KiB and (in 1.4.0) holds the GIL
while it encrypts. The last table is the case that decides: two workers that
alternate Python work and writes, as export's do, with and without encryption.
Figures for docs/SECURITY.md.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

BLOCK = 1 << 20


def _busy(stop: threading.Event, counter: list[int]) -> None:
    n = 0
    while not stop.is_set():
        sum(i * i for i in range(200))
        n += 1
    counter.append(n)


def _case(name: str, plain: str, cipher: str) -> dict[str, float]:
    import pyrage
    from osidump.engine.seal import (
        EncryptingStream,
        decrypting_reader,
        parse_identities,
        recipients,
    )
    from osidump.engine.seal.age_keys import generate_identity

    text, public = generate_identity()
    ids = parse_identities(text, source="bench")
    rcpt = recipients([public])
    size = os.path.getsize(plain)

    class Discard:
        def write(self, data: bytes) -> None:
            pass

        def commit(self) -> None:
            pass

        def abort(self) -> None:
            pass

    def stream_encrypt() -> None:
        out = EncryptingStream(Discard(), rcpt, name="bench")
        with open(plain, "rb") as f:
            while block := f.read(BLOCK):
                out.write(block)
        out.commit()

    def stream_decrypt() -> None:
        # the ciphertext was made for this run's key by the same stream
        with open(cipher + ".key", "w") as k:
            k.write(text)
        enc = EncryptingStream(_FileWriter(cipher), rcpt, name="bench")
        with open(plain, "rb") as f:
            while block := f.read(BLOCK):
                enc.write(block)
        enc.commit()
        start = time.perf_counter()
        with decrypting_reader(open(cipher, "rb"), ids, name="bench") as r:
            while r.read(BLOCK):
                pass
        timings["seconds"] = time.perf_counter() - start

    def whole_pyrage() -> None:
        with open(plain, "rb") as f:
            data = f.read()
        ct = pyrage.encrypt(data, list(rcpt.keys))
        del data
        pyrage.decrypt(ct, list(ids.keys))

    def whole_pure_python_age() -> None:
        from age.file import Decryptor, Encryptor  # type: ignore[import-not-found]
        from age.keys.agekey import AgePrivateKey  # type: ignore[import-not-found]

        key = AgePrivateKey.generate()
        sink = io.BytesIO()
        enc = Encryptor([key.public_key()], sink)
        with open(plain, "rb") as f:
            while block := f.read(BLOCK):
                enc.write(block)
        enc.close()
        sink.seek(0)
        dec = Decryptor([key], sink)
        dec.read()

    def baseline() -> None:
        with open(plain, "rb") as f:
            while f.read(BLOCK):
                pass

    timings: dict[str, float] = {}

    cases: dict[str, Callable[[], None]] = {
        "baseline-read": baseline,
        "pyrage-stream-encrypt": stream_encrypt,
        "pyrage-stream-decrypt": stream_decrypt,
        "pyrage-whole-encrypt+decrypt": whole_pyrage,
        "age-pure-python-encrypt+decrypt": whole_pure_python_age,
    }
    base, _, contended = name.partition("@")
    stop = threading.Event()
    counter: list[int] = []
    busy = threading.Thread(target=_busy, args=(stop, counter))
    if contended:
        busy.start()
    start = time.perf_counter()
    cases[base]()
    seconds = timings.get("seconds", time.perf_counter() - start)
    if contended:
        stop.set()
        busy.join()
    return {
        "seconds": seconds,
        "mib_per_s": size / (1 << 20) / seconds,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "busy_loops_per_s": counter[0] / seconds if counter else 0.0,
    }


def _pipeline(mode: str, units: int) -> float:
    """Two worker threads, each doing pure-Python work per 128 KiB of output
    (about export's output rate on this machine) and writing it: unencrypted
    (``none``), through EncryptingStream (``pump``), or as one age file per
    bounded piece with ``pyrage.encrypt`` (``pieceN``, N KiB). Wall seconds."""
    import pyrage
    from osidump.engine.seal import EncryptingStream, recipients
    from osidump.engine.seal.age_keys import generate_identity

    rcpt = recipients([generate_identity()[1]])
    block = os.urandom(128 << 10)

    class Discard:
        def write(self, data: bytes) -> None:
            pass

        def commit(self) -> None:
            pass

        def abort(self) -> None:
            pass

    def worker() -> None:
        stream = EncryptingStream(Discard(), rcpt) if mode == "pump" else None
        pending: list[bytes] = []
        for _ in range(units):
            sum(j * j for j in range(24000))  # the rows' Python work
            if stream is not None:
                stream.write(block)
            elif mode.startswith("piece"):
                pending.append(block)
                if len(pending) * len(block) >= int(mode[5:]) << 10:
                    pyrage.encrypt(b"".join(pending), list(rcpt.keys))
                    pending = []
        if stream is not None:
            stream.commit()
        elif pending:
            pyrage.encrypt(b"".join(pending), list(rcpt.keys))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


class _FileWriter:
    def __init__(self, path: str):
        self._f = open(path, "wb")  # noqa: SIM115

    def write(self, data: bytes) -> None:
        self._f.write(data)

    def commit(self) -> None:
        self._f.close()

    def abort(self) -> None:
        self._f.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--plain", help=argparse.SUPPRESS)
    parser.add_argument("--cipher", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(_case(args.case, args.plain, args.cipher)))
        return
    try:
        import age  # type: ignore[import-not-found]  # noqa: F401

        have_pure = True
    except ImportError:
        have_pure = False
    with tempfile.TemporaryDirectory() as tmp:
        plain = os.path.join(tmp, "plain")
        with open(plain, "wb") as f:
            for _ in range(args.mib):
                f.write(os.urandom(BLOCK))
        cases = [
            "baseline-read",
            "pyrage-stream-encrypt",
            "pyrage-stream-decrypt",
            "pyrage-whole-encrypt+decrypt",
            "pyrage-stream-encrypt@contended",
            "pyrage-stream-decrypt@contended",
            "baseline-read@contended",
        ]
        if have_pure:
            cases.append("age-pure-python-encrypt+decrypt")
        print(f"| case ({args.mib} MiB) | seconds | MiB/s | peak RSS MiB | busy loops/s |")
        print("|---|---|---|---|---|")
        for case in cases:
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.seal_libs",
                    "--case",
                    case,
                    "--plain",
                    plain,
                    "--cipher",
                    os.path.join(tmp, "cipher"),
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out)
            print(
                f"| {case} | {r['seconds']:.2f} | {r['mib_per_s']:.0f} | "
                f"{r['peak_rss_mib']:.0f} | {r['busy_loops_per_s']:.0f} |"
            )
    modes = ("none", "pump", "piece256", "piece1024")
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.reps):  # interleaved, so load changes hit every mode alike
        for mode in modes:
            times[mode].append(_pipeline(mode, units=300))
    base = statistics.median(times["none"])
    print(f"\n| 2 workers, 75 MiB out, median of {args.reps} | seconds | time ratio |")
    print("|---|---|---|")
    for mode in modes:
        med = statistics.median(times[mode])
        print(f"| {mode} | {med:.2f} | {med / base:.2f}x |")


if __name__ == "__main__":
    main()
