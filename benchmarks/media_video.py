"""Faces from videos: frames per second on this machine for 720p clips made from CFP photos.

    PYTHONPATH=src python benchmarks/media_video.py /path/to/cfp/Data/Images \
        --seconds 60 --clips 2 --workers 2

Makes ``--clips`` different 1280x720 H.264 clips of ``--seconds`` at 30 frames per second with
PyAV (four CFP people each entering and leaving twice, moving), then measures, one after the
other in the same run:

1. decoding alone (every frame to BGR pixels, one thread): frames/s;
2. one clip through ``process_video`` in this process (the media import's SFace pipeline,
   sampling at ``--fps``): decoded and sampled frames/s, seconds per minute of video, stages,
   tracks found against the appearances made;
3. the media import of all clips (hashes, faces, tracks, store) with ``--workers`` processes
   (one video per worker): minutes of video per minute.

The target of issue 12: a minute of video processed in under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from facesearch.app.service import Service
from facesearch.media.acts import MediaService, MediaSettings
from facesearch.media.video import VideoSettings, process_video
from facesearch.settings import Settings

WIDTH, HEIGHT, RATE = 1280, 720, 30


def make_clip(photos: list[Path], seconds: int, seed: int, path: Path) -> int:
    """Write the clip; returns the number of appearances in it."""
    import av
    from PIL import Image

    rng = np.random.default_rng(seed)
    tiles = []
    for p in photos:
        im = Image.open(p).convert("RGB")
        h = int(rng.integers(140, 260))
        tiles.append(np.asarray(im.resize((round(im.width * h / im.height), h))))
    # each person twice: on screen for 4-12 s, anywhere in the clip
    shows = []
    for i, tile in enumerate(tiles):
        for half in (0, 1):
            length = int(rng.integers(4, 13)) * 1000
            start = int(rng.integers(0, max(1, seconds * 500 - length))) + half * seconds * 500
            x = int(rng.integers(0, WIDTH - tile.shape[1] - 200))
            y = int(rng.integers(0, HEIGHT - tile.shape[0]))
            shows.append((i, start, start + length, x, y))
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    room = np.stack([80 + 60 * xx / WIDTH, 90 + 50 * yy / HEIGHT, 100 + 0 * xx], -1).astype(
        np.uint8
    )
    noise = [rng.integers(0, 6, room.shape, dtype=np.uint8) for _ in range(7)]
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for n in range(seconds * RATE):
            ms = n * 1000 // RATE
            frame = room + noise[n % len(noise)]  # sensor noise
            for i, start, end, x, y in shows:
                if start <= ms < end:
                    tile = tiles[i]
                    dx = min(int(15 * (ms - start) / 1000), 200)
                    frame[y : y + tile.shape[0], x + dx : x + dx + tile.shape[1]] = tile
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = n
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return len(shows)


def decode_all(data: bytes) -> tuple[int, float]:
    import io

    import av

    t0 = time.perf_counter()
    n = 0
    with av.open(io.BytesIO(data)) as c:
        for frame in c.decode(c.streams.video[0]):
            frame.to_ndarray(format="bgr24")
            n += 1
    return n, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images", type=Path, help="CFP Data/Images")
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--fps", type=float, default=2.0, help="frames sampled per second")
    args = ap.parse_args()
    people = sorted(args.images.glob("*/frontal/01.jpg"))
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    print("(wall times include the other processes' share of the cores; CPU times do not)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        appearances = []
        t0 = time.perf_counter()
        for c in range(args.clips):
            appearances.append(
                make_clip(people[4 * c : 4 * c + 4], args.seconds, c, folder / f"clip{c}.mp4")
            )
        sizes = [p.stat().st_size for p in sorted(folder.iterdir())]
        print(
            f"made {args.clips} clips of {args.seconds} s, {WIDTH}x{HEIGHT} at {RATE} fps "
            f"({sum(sizes) / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s"
        )
        data = (folder / "clip0.mp4").read_bytes()

        frames, secs = decode_all(data)
        print(f"1. decode only: {frames} frames in {secs:.1f} s = {frames / secs:.0f} frames/s")

        ws = Service.for_cli(Settings.load(data_dir=Path(tmp) / "data"))
        ws.library.initialise("admin")
        settings = ws.gallery.ingest_settings()
        pipe = ws.gallery.ingest_pipeline(settings)
        pipe.load_models()
        video = VideoSettings(fps=args.fps)
        t0, c0 = time.perf_counter(), time.process_time()
        out = process_video(0, data, False, video, pipeline=pipe)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        item, t = out.items[0], out.timings
        assert item.ok, item.reason
        print(
            f"2. one clip in this process at {args.fps:g} frames/s: {secs:.1f} s for "
            f"{args.seconds} s of video ({secs * 60 / args.seconds:.1f} s per minute; CPU "
            f"{cpu:.1f} s = {cpu * 60 / args.seconds:.1f} s per minute); "
            f"{t['frames_decoded'] / secs:.0f} decoded frames/s, "
            f"{t['frames_sampled'] / secs:.1f} sampled frames/s; "
            f"{len(item.tracks)} tracks for {appearances[0]} appearances, {len(item.faces)} faces"
        )
        stages = {k: round(v, 1) for k, v in t.items() if not k.startswith("frames_")}
        print("   stages (s):", stages)

        # the same clip with the photo detector's passes (coarse at 960 + tiled fine pass, and
        # the padded, low-threshold and rotated retries on every frame without a face)
        photo = dataclasses.replace(video, detect_max_side=0, detect_fallbacks=True)
        t0, c0 = time.perf_counter(), time.process_time()
        out = process_video(0, data, False, photo, pipeline=pipe)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"   the same with the photo detector's passes: {secs:.1f} s (CPU {cpu:.1f} s), "
            f"{len(out.items[0].tracks)} tracks, {len(out.items[0].faces)} faces; detect "
            f"{out.timings['detect']:.1f} s"
        )

        g = ws.governance
        g.add_user("admin", "sup", ["supervisor"])
        g.add_user("admin", "ivy", ["investigator"])
        g.open_case("ivy", "V1", "cse-victim-id", "Warrant", "benchmark of video import")
        g.approve_case("sup", "V1")
        media = MediaService(g, ws.gallery, MediaSettings(video=video))
        t0 = time.perf_counter()
        c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s0 = resource.getrusage(resource.RUSAGE_SELF)
        report = media.import_media("ivy", "V1", [folder], workers=args.workers)
        secs = time.perf_counter() - t0
        c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        s1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = sum(
            b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in ((c0, c1), (s0, s1))
        )
        minutes = args.clips * args.seconds / 60
        print(
            f"3. media import, {args.workers} workers: {args.clips} clips ({minutes:g} min of "
            f"video) in {secs:.1f} s = {minutes * 60 / secs:.2f} min of video per minute "
            f"(CPU {cpu:.1f} s, {cpu / minutes:.1f} CPU s per minute of video, workers' model "
            "loading included); "
            f"{report.video_frames.get('sampled', 0) / secs:.1f} sampled frames/s, "
            f"{report.faces} faces, {len(media.tracks('ivy', 'V1'))} tracks for "
            f"{sum(appearances)} appearances, failures {report.failures}"
        )
        ws.close()


if __name__ == "__main__":
    main()
