"""Where a governed search's time goes: the library search vs the governed one, and cProfile.

Uses the gallery of ``serve_load.py`` (built here if DIR holds none; --n faces): p50 of
``Service.engine_search`` (the engine alone) and of ``Service.search`` (check, engine search,
record), each over --searches probes, then a cProfile of the governed searches sorted by
cumulative time (the governance part is everything outside ``SearchPool.run``).

    python benchmarks/profile_search.py DIR [--n 5000] [--searches 20] [--top 45]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    import serve_load

    from facesearch.app.service import SearchRequest, Service
    from facesearch.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--searches", type=int, default=20)
    parser.add_argument("--top", type=int, default=45)
    args = parser.parse_args()
    photos = sorted(serve_load.PHOTOS.glob("img*.jpg"))[:40]
    if len(photos) < 8:
        sys.exit(f"need photos of faces in {serve_load.PHOTOS} (FACESEARCH_SHARED_FACES)")
    if not (args.dir / "load-tokens.json").exists():
        serve_load.build(args.dir, args.n, photos[4:], 2)
    probes = [p.read_bytes() for p in photos[:4]]
    service = Service.open(Settings(data_dir=args.dir, search_workers=2))
    try:
        who = service.accounts.principal("inv0", "token")
        request = SearchRequest()
        for p in probes:  # warm: models loaded
            service.searches.search(who, "LOAD-1", p, request)

        def p50(fn) -> float:  # type: ignore[no-untyped-def]
            times = []
            for i in range(args.searches):
                t0 = time.perf_counter()
                fn(probes[i % len(probes)])
                times.append((time.perf_counter() - t0) * 1000)
            return round(statistics.median(times), 1)

        def engine(p: bytes) -> object:
            return service.ctx.pool.run(lambda: service.searches.engine_search(p, 20, request))

        def governed(p: bytes) -> object:
            return service.searches.search(who, "LOAD-1", p, request)

        print(f"library p50 {p50(engine)} ms; governed p50 {p50(governed)} ms", flush=True)
        profile = cProfile.Profile()
        profile.enable()
        for i in range(args.searches):
            governed(probes[i % len(probes)])
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
    finally:
        service.close()


if __name__ == "__main__":
    main()
